// h1_response_fuzz: the HTTP/1 response-head parser (what an upstream sends) fed raw bytes at
// random split points.
//
// Input: byte 0 chooses the split points (2-8 of them); bit 0 of byte 1 says whether the request
// was HEAD; the rest is what the upstream sends.
// Properties checked on every input:
//   - no crash, leak, UB or read past the buffer (run under ASan/UBSan);
//   - incremental parsing (scan_hint, arbitrary splits; the two-pass path) decides exactly like
//     one-shot parsing (where a whole head takes the one-pass path): same state, same byte, and
//     the same response (status, reason, version, every field, framing, keep-alive);
//   - an accepted response never has both a Content-Length and chunked framing, and a response
//     without a body (HEAD, 1xx, 204, 304) says so.
//
// clang-14 libFuzzer build, from the repository root:
//   H=src/http; clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc
//     tests/fuzz/h1_response_fuzz.cc $H/parser.cc $H/message.cc src/common/strings.cc
//     -o h1_response_fuzz
//   ./h1_response_fuzz -max_len=4096 tests/fuzz/h1_response
// Under g++ the committed corpus replays as part of http_test (tests/unit/http/fuzz_test.cc).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/parser.h"

#include "fuzz_check.h"

namespace turnpike::http::h1_response_fuzz {

struct Parsed {
  ParseResult result;
  Response response;
};

inline Parsed parse_pieces(std::string_view in, const std::vector<size_t>& cuts,
                           const ParseLimits& limits, bool head) {
  Parsed p;
  p.result = fuzz::feed_in_pieces(in, cuts, [&](std::string_view buf, size_t& hint) {
    return parse_response_head(buf, limits, head, p.response, hint);
  });
  return p;
}

inline bool same_fields(const HeaderMap& a, const HeaderMap& b) {
  auto ia = a.begin(), ib = b.begin();
  for (; ia != a.end() && ib != b.end(); ++ia, ++ib)
    if (ia->name != ib->name || ia->value != ib->value)
      return false;
  return ia == a.end() && ib == b.end();
}

inline int run_one(const uint8_t* data, size_t size) {
  if (size < 2)
    return 0;
  const bool head = (data[1] & 1) != 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);
  ParseLimits limits;
  limits.max_header_bytes = 12 * 1024;
  limits.max_header_fields = 24;
  limits.max_field_bytes = 1024;

  Parsed once = parse_pieces(in, {}, limits, head);
  Parsed split = parse_pieces(in, fuzz::split_points(data[0], in.size()), limits, head);
  TURNPIKE_FUZZ_CHECK(once.result.state == split.result.state);
  if (!once.result.complete() || !split.result.complete())
    return 0;
  const Response& a = once.response;
  const Response& b = split.response;
  TURNPIKE_FUZZ_CHECK(once.result.consumed == split.result.consumed);
  TURNPIKE_FUZZ_CHECK(once.result.consumed <= in.size());
  TURNPIKE_FUZZ_CHECK(a.status == b.status && a.reason == b.reason && a.version == b.version);
  TURNPIKE_FUZZ_CHECK(same_fields(a.headers, b.headers));
  TURNPIKE_FUZZ_CHECK(a.content_length == b.content_length && a.chunked == b.chunked);
  TURNPIKE_FUZZ_CHECK(a.no_body == b.no_body && a.keep_alive == b.keep_alive);
  TURNPIKE_FUZZ_CHECK(!(a.chunked && a.content_length >= 0));
  TURNPIKE_FUZZ_CHECK(a.status >= 100 && a.status <= 999);
  if (head || a.status < 200 || a.status == 204 || a.status == 304)
    TURNPIKE_FUZZ_CHECK(a.no_body);
  return 0;
}

} // namespace turnpike::http::h1_response_fuzz

extern "C" int TURNPIKE_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  return turnpike::http::h1_response_fuzz::run_one(data, size);
}
