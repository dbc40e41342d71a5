// Hot-path micro-benchmarks of the HTTP/1 library: parse a typical browser request, normalise
// its path, strip hop-by-hop + set forwarded headers, serialise it for the upstream, parse a
// typical response, and de-chunk a body. Every benchmark reuses its objects, as a connection
// does, so the numbers include no steady-state allocation.

#include <benchmark/benchmark.h>

#include <string>

#include "http/chunked.h"
#include "http/forwarded.h"
#include "http/parser.h"
#include "http/path.h"
#include "http/serialize.h"

namespace turnpike::http {
namespace {

const std::string kBrowserRequest =
    "GET /static/app/bundle.js?v=1234 HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: https://www.example.com/index.html\r\n"
    "Cookie: session=0123456789abcdef0123456789abcdef; theme=dark; consent=yes\r\n"
    "Connection: keep-alive\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "Sec-Fetch-Dest: script\r\n"
    "Sec-Fetch-Mode: no-cors\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "\r\n";

const std::string kResponse = "HTTP/1.1 200 OK\r\n"
                              "Content-Type: application/javascript\r\n"
                              "Content-Length: 48213\r\n"
                              "Cache-Control: public, max-age=31536000\r\n"
                              "ETag: \"5e1f-60a3b2c4\"\r\n"
                              "Last-Modified: Tue, 11 Jul 2023 09:00:00 GMT\r\n"
                              "Date: Tue, 11 Jul 2023 09:00:01 GMT\r\n"
                              "Server: nginx\r\n"
                              "\r\n";

void BM_ParseRequestHead(benchmark::State& state) {
  Request req;
  ParseLimits limits;
  for (auto _ : state) {
    size_t hint = 0;
    ParseResult r = parse_request_head(kBrowserRequest, limits, req, hint);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBrowserRequest.size()));
}
BENCHMARK(BM_ParseRequestHead);

void BM_ParseResponseHead(benchmark::State& state) {
  Response resp;
  ParseLimits limits;
  for (auto _ : state) {
    size_t hint = 0;
    ParseResult r = parse_response_head(kResponse, limits, false, resp, hint);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kResponse.size()));
}
BENCHMARK(BM_ParseResponseHead);

void BM_NormalizePath(benchmark::State& state) {
  std::string out;
  const std::string raw = "/static/app/./v2/../bundle%2ejs/%7Euser//x";
  for (auto _ : state) {
    auto why = normalize_path(raw, PathOptions{}, out);
    benchmark::DoNotOptimize(why);
  }
}
BENCHMARK(BM_NormalizePath);

// Everything the entrypoint and the proxy do to one request head.
void BM_RequestPipeline(benchmark::State& state) {
  Request req;
  req.client_addr = boost::asio::ip::make_address("192.0.2.10");
  ParseLimits limits;
  ForwardedOptions forwarded;
  forwarded.hostname = "gw-1";
  std::string raw_path, wire;
  for (auto _ : state) {
    size_t hint = 0;
    parse_request_head(kBrowserRequest, limits, req, hint);
    raw_path.swap(req.path);
    normalize_path(raw_path, PathOptions{}, req.path);
    strip_hop_by_hop(req.headers, req.upgrade_websocket);
    apply_forwarded_headers(req, forwarded);
    wire.clear();
    serialize_request_head(req, {}, wire);
    benchmark::DoNotOptimize(wire.data());
  }
}
BENCHMARK(BM_RequestPipeline);

void BM_ChunkedDecode(benchmark::State& state) {
  std::string wire;
  const std::string chunk(static_cast<size_t>(state.range(0)), 'x');
  for (int i = 0; i < 16; ++i)
    append_chunk(wire, chunk);
  append_last_chunk(wire);
  ChunkedDecoder dec;
  for (auto _ : state) {
    dec.reset();
    std::string_view in = wire;
    while (!in.empty()) {
      ChunkedStep s = dec.decode(in);
      in.remove_prefix(s.consumed);
      benchmark::DoNotOptimize(s.data.data());
      if (s.done || s.error)
        break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_ChunkedDecode)->Arg(16)->Arg(4096);

} // namespace
} // namespace turnpike::http

BENCHMARK_MAIN();
