// h2_request_fuzz: Http2RequestBuilder on arbitrary decoded header fields (security.md section
// 8; the field-level half of harness 3: nghttp2 does the framing and HPACK, this checks what
// the gateway decides about the fields it decodes).
//
// Input: byte 0 chooses end_stream (bit 0), the underscore strategy (bits 1-2) and small limits
// (bit 3); the rest is one field per line, "name:value" split at the first ':' after the first
// byte (so ":path:/x" is the pseudo-header :path with value "/x"). Lines are split on LF, so a
// value cannot hold a LF, but it may hold CR, NUL and any other byte.
// Properties:
//   - a served request is canonical: a token method, version HTTP/2, a path that normalisation
//     leaves unchanged, a lower-case host without port, field names that are lower-case tokens
//     and never pseudo-headers, connection-specific fields, `expect` or a second `host`; values
//     without CR, LF or NUL; a host field equal to the authority; framing that is either a
//     content-length, or chunked (only without END_STREAM), or no body;
//   - re-serialised as HTTP/1.1 (what goes upstream) it parses back, strictly, into the same
//     method, path, query, host and framing: no HTTP/2 request turns into smuggling bytes;
//   - a local answer is one of 400, 405, 417, 431.
//
// clang-14 libFuzzer build, from the repository root:
//   H=src/http; clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc
//     tests/fuzz/h2_request_fuzz.cc $H/http2_request.cc $H/path.cc $H/parser.cc $H/message.cc
//     $H/serialize.cc $H/forwarded.cc src/common/strings.cc src/common/ipnet.cc -o h2_request_fuzz
//   ./h2_request_fuzz -max_len=2048 tests/fuzz/h2_request
// Under g++ the committed corpus replays as part of http_test (tests/unit/http/fuzz_test.cc).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/strings.h"
#include "http/http2_request.h"
#include "http/parser.h"
#include "http/path.h"
#include "http/serialize.h"

#include "fuzz_check.h"

namespace turnpike::http::h2_fuzz {

inline bool clean_value(std::string_view v) {
  return v.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

inline void check_served(const Request& r, bool end_stream, const PathOptions& path) {
  TURNPIKE_FUZZ_CHECK(is_token(r.method));
  TURNPIKE_FUZZ_CHECK(r.version == Version::kHttp2);
  std::string again;
  if (r.path != "*") {
    TURNPIKE_FUZZ_CHECK(normalize_path(r.path, path, again).empty());
    TURNPIKE_FUZZ_CHECK(again == r.path);
  }
  for (char c : r.host)
    TURNPIKE_FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
  size_t hosts = 0;
  for (const auto& h : r.headers) {
    TURNPIKE_FUZZ_CHECK(is_http2_field_name(h.name));
    TURNPIKE_FUZZ_CHECK(!is_http2_connection_specific(h.name));
    TURNPIKE_FUZZ_CHECK(h.name != "expect");
    TURNPIKE_FUZZ_CHECK(clean_value(h.value));
    if (h.name == "host") {
      ++hosts;
      TURNPIKE_FUZZ_CHECK(h.value == r.authority);
    }
  }
  TURNPIKE_FUZZ_CHECK(hosts <= 1);
  TURNPIKE_FUZZ_CHECK(r.content_length >= -1);
  if (r.chunked)
    TURNPIKE_FUZZ_CHECK(!end_stream && r.content_length == -1);
  if (end_stream)
    TURNPIKE_FUZZ_CHECK(!r.has_body());

  // Round trip through the HTTP/1.1 request that goes upstream.
  RequestHeadOptions o;
  if (r.chunked) {
    o.framing = BodyFraming::kChunked;
  } else if (r.content_length >= 0) {
    o.framing = BodyFraming::kContentLength;
    o.content_length = static_cast<uint64_t>(r.content_length);
  }
  std::string wire;
  serialize_request_head(r, o, wire);
  Request back;
  size_t hint = 0;
  ParseLimits lim; // generous: only framing and field syntax matter here
  lim.max_header_fields = 1000;
  lim.max_request_line = 1 << 20;
  lim.max_field_bytes = 1 << 20;
  ParseResult pr = parse_request_head(wire, lim, back, hint);
  TURNPIKE_FUZZ_CHECK(pr.complete());
  TURNPIKE_FUZZ_CHECK(pr.consumed == wire.size());
  TURNPIKE_FUZZ_CHECK(back.method == r.method);
  TURNPIKE_FUZZ_CHECK(back.path == r.path);
  TURNPIKE_FUZZ_CHECK(back.has_query == r.has_query && back.query == r.query);
  TURNPIKE_FUZZ_CHECK(back.host == r.host);
  TURNPIKE_FUZZ_CHECK(back.chunked == r.chunked);
  if (r.content_length > 0)
    TURNPIKE_FUZZ_CHECK(back.content_length == r.content_length);
  if (!r.has_body())
    TURNPIKE_FUZZ_CHECK(!back.has_body());
}

} // namespace turnpike::http::h2_fuzz

extern "C" int TURNPIKE_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  using namespace turnpike::http;
  if (size == 0)
    return 0;
  const uint8_t mode = data[0];
  const bool end_stream = mode & 1;
  ParseLimits limits;
  limits.underscore_headers = static_cast<UnderscoreHeaders>((mode >> 1) % 3);
  if (mode & 8) {
    limits.max_header_bytes = 512;
    limits.max_header_fields = 8;
    limits.max_field_bytes = 128;
  }
  PathOptions path;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);

  Request req;
  Http2RequestBuilder b;
  b.start(req, limits);
  while (!in.empty()) {
    size_t nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    size_t colon = line.size() > 1 ? line.find(':', 1) : std::string_view::npos;
    if (colon == std::string_view::npos)
      b.add(line, "");
    else
      b.add(line.substr(0, colon), line.substr(colon + 1));
  }
  Http2Verdict v = b.finish(end_stream, path);
  switch (v.action) {
  case Http2Verdict::Action::kServe:
    turnpike::http::h2_fuzz::check_served(req, end_stream, path);
    break;
  case Http2Verdict::Action::kRespond:
    TURNPIKE_FUZZ_CHECK(v.status == 400 || v.status == 405 || v.status == 417 || v.status == 431);
    break;
  case Http2Verdict::Action::kReset:
    TURNPIKE_FUZZ_CHECK(!v.reason.empty());
    break;
  }
  return 0;
}
