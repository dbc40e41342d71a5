"""The compress middleware through the binary, decoded by real clients: curl --compressed and
Python's gzip, brotli and zstandard decoders."""

import gzip
import subprocess
import time

import brotli
import pytest
import zstandard

import turnpike_it as it
from turnpike_it import pattern_bytes, request

H = "compress.test"
TEXT = "?h=Content-Type:text/plain"


@pytest.fixture(scope="module")
def gw(module_env):
    app = module_env.upstream("app")
    def r(prefix, mws):
        return it.prefix_router(H, prefix, "app", mws)
    dynamic = {"http": {
        "routers": {
            "all": r("/all", ["all"]),
            "zstd-first": r("/zstd-first", ["zstd-first"]),
            "json-only": r("/json-only", ["json-only"]),
        },
        "services": {"app": it.service(app)},
        "middlewares": {
            "all": {"compress": {}},
            "zstd-first": {"compress": {"encodings": ["zstd", "br"], "defaultEncoding": "br"}},
            "json-only": {"compress": {"includedContentTypes": ["application/json"],
                                       "minResponseBodyBytes": 10}},
        },
    }}
    return module_env.gateway(dynamic=dynamic, ready=(H, "/all/x"))


def curl(gw, path, *args):
    """curl's headers (lower-case names) and body."""
    out = subprocess.run(
        ["curl", "-sS", "-D", "-", "-H", f"Host: {H}", *args, f"http://127.0.0.1:{gw.port}{path}"],
        capture_output=True, check=True, timeout=20).stdout
    head, _, body = out.partition(b"\r\n\r\n")
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.decode().partition(":")
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    return head.split(b"\r\n")[0], headers, body


DECODE = {"gzip": gzip.decompress, "br": brotli.decompress,
          "zstd": lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b)}


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_each_coding_decodes_to_the_upstream_body(gw, coding):
    for path in (f"/all/bytes/100000{TEXT}", f"/all/chunked/100000{TEXT}&chunk=3000"):
        r = request(gw.port, path, host=H, headers=[("Accept-Encoding", coding)])
        assert r.status == 200
        assert r.header("Content-Encoding") == coding
        assert r.header("Content-Length") is None
        assert r.header("Vary") == "Accept-Encoding"
        assert len(r.body) < 20000
        assert DECODE[coding](r.body) == pattern_bytes(100000)


def test_curl_compressed_negotiates_and_decodes(gw):
    # curl offers every coding it was built with (deflate, gzip, br, zstd): gzip wins the tie by
    # the configured order; the zstd-first middleware prefers zstd.
    status, headers, body = curl(gw, f"/all/bytes/50000{TEXT}", "--compressed")
    assert headers["content-encoding"] == ["gzip"]
    assert body == pattern_bytes(50000)
    _, headers, body = curl(gw, f"/zstd-first/bytes/50000{TEXT}", "--compressed")
    assert headers["content-encoding"] == ["zstd"]
    assert body == pattern_bytes(50000)
    # q-values win over the order.
    _, headers, _ = curl(gw, f"/all/bytes/5000{TEXT}", "-H", "Accept-Encoding: gzip;q=0.3, br")
    assert headers["content-encoding"] == ["br"]


def test_default_encoding_and_wildcard(gw):
    r = request(gw.port, f"/zstd-first/bytes/5000{TEXT}", host=H)  # no Accept-Encoding
    assert r.header("Content-Encoding") == "br"
    r = request(gw.port, f"/all/bytes/5000{TEXT}", host=H)
    assert r.header("Content-Encoding") is None
    r = request(gw.port, f"/all/bytes/5000{TEXT}", host=H, headers=[("Accept-Encoding", "*;q=0.5, gzip;q=0")])
    assert r.header("Content-Encoding") == "br"
    r = request(gw.port, f"/all/bytes/5000{TEXT}", host=H, headers=[("Accept-Encoding", "")])
    assert r.header("Content-Encoding") is None
    assert r.body == pattern_bytes(5000)


def test_what_is_left_alone(gw):
    ae = [("Accept-Encoding", "gzip")]
    # Below minResponseBodyBytes, with a length or without one.
    for path in (f"/all/bytes/1023{TEXT}", f"/all/chunked/1023{TEXT}&chunk=100"):
        r = request(gw.port, path, host=H, headers=ae)
        assert r.header("Content-Encoding") is None, path
        assert r.body == pattern_bytes(1023)
    # Already encoded: never twice.
    r = request(gw.port, "/all/bytes/5000?h=Content-Encoding:gzip", host=H, headers=ae)
    assert r.header("Content-Encoding") == "gzip"
    assert r.body == pattern_bytes(5000)
    # HEAD, 204, 304.
    r = request(gw.port, f"/all/bytes/5000{TEXT}", method="HEAD", host=H, headers=ae)
    assert r.header("Content-Encoding") is None and r.header("Content-Length") == "5000"
    for status in (204, 304):
        r = request(gw.port, f"/all/status/{status}", host=H, headers=ae)
        assert r.status == status and r.header("Content-Encoding") is None
    # includedContentTypes: the JSON echo is compressed, text is not.
    r = request(gw.port, "/json-only/echo", host=H, headers=ae)
    assert r.header("Content-Encoding") == "gzip"
    assert b'"path"' in gzip.decompress(r.body)
    r = request(gw.port, f"/json-only/bytes/5000{TEXT}", host=H, headers=ae)
    assert r.header("Content-Encoding") is None


def test_streamed_events_arrive_compressed_as_they_are_sent(gw):
    # Four events 400 ms apart through curl --compressed -N: each one reaches curl (decoded)
    # when it is sent, not at the end of the stream.
    proc = subprocess.Popen(
        ["curl", "-sS", "-N", "--compressed", "-H", f"Host: {H}",
         f"http://127.0.0.1:{gw.port}/all/sse/4/400"], stdout=subprocess.PIPE)
    try:
        t0 = time.monotonic()
        seen = []
        for line in proc.stdout:
            if line.startswith(b"data:"):
                seen.append((line.strip(), time.monotonic() - t0))
        assert [s for s, _ in seen] == [b"data: event %d" % i for i in range(4)]
        assert seen[0][1] < seen[-1][1] - 0.8, seen
    finally:
        proc.wait(timeout=10)
    r = request(gw.port, "/all/sse/2/10", host=H, headers=[("Accept-Encoding", "gzip")])
    assert r.header("Content-Encoding") == "gzip"
    assert gzip.decompress(r.body) == b"data: event 0\n\ndata: event 1\n\n"
