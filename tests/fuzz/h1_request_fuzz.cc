// h1_request_fuzz: the HTTP/1 request parser fed raw bytes at random split points
// (security.md section 8, harness 1).
//
// Input: byte 0 chooses the split points (2-8 of them), the rest is what a client sends.
// Properties checked on every input:
//   - no crash, leak, UB or read past the buffer (run under ASan/UBSan);
//   - incremental parsing (scan_hint, arbitrary splits) decides like one-shot parsing: both
//     complete at the same byte with the same message, or neither does;
//   - an accepted request, serialised with serialize_request_head and parsed again, gives the
//     same message (round trip), and the serialised head has no CR/LF inside a line and never
//     both Content-Length and Transfer-Encoding;
//   - a chunked body decodes to the same bytes and the same outcome whatever the splits;
//   - the accepted path normalises idempotently.
//
// clang-14 libFuzzer build, from the repository root (Asio header-only; exchange.cc is not
// needed and trips a clang-14 coroutine debug-info bug):
//   H=src/http; clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc
//     tests/fuzz/h1_request_fuzz.cc $H/parser.cc $H/chunked.cc $H/path.cc $H/serialize.cc
//     $H/forwarded.cc $H/message.cc src/common/strings.cc src/common/ipnet.cc
//     src/common/result.cc -o h1_request_fuzz
//   ./h1_request_fuzz -max_len=4096 tests/fuzz/h1_request
// Under g++ the committed corpus replays as part of http_test (tests/unit/http/fuzz_test.cc),
// which includes this file with TURNPIKE_FUZZ_ENTRY and TURNPIKE_FUZZ_FAIL redefined.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/strings.h"
#include "http/chunked.h"
#include "http/parser.h"
#include "http/path.h"
#include "http/serialize.h"

#include "fuzz_check.h"

namespace turnpike::http::h1_fuzz {

// Small limits so that the fuzzer reaches them with small inputs (the request line cannot go
// below the RFC minimum of 8000).
inline ParseLimits fuzz_limits() {
  ParseLimits l;
  l.max_header_bytes = 12 * 1024;
  l.max_header_fields = 24;
  l.max_field_bytes = 1024;
  return l;
}

using fuzz::split_points;

struct Parsed {
  ParseResult result;
  Request request;
};

inline Parsed parse_once(std::string_view in, const ParseLimits& limits) {
  Parsed p;
  size_t hint = 0;
  p.result = parse_request_head(in, limits, p.request, hint);
  return p;
}

// Feeds `in` in the pieces `cuts` delimits, the way a connection reads it.
inline Parsed parse_split(std::string_view in, const std::vector<size_t>& cuts,
                          const ParseLimits& limits) {
  Parsed p;
  p.result = fuzz::feed_in_pieces(in, cuts, [&](std::string_view buf, size_t& hint) {
    return parse_request_head(buf, limits, p.request, hint);
  });
  return p;
}

inline bool same_headers_except(const HeaderMap& a, const HeaderMap& b) {
  auto skip = [](const Header& h) {
    return iequals(h.name, "host") || iequals(h.name, "content-length") ||
           iequals(h.name, "transfer-encoding");
  };
  auto ia = a.begin(), ib = b.begin();
  for (;;) {
    while (ia != a.end() && skip(*ia))
      ++ia;
    while (ib != b.end() && skip(*ib))
      ++ib;
    if (ia == a.end() || ib == b.end())
      return ia == a.end() && ib == b.end();
    if (ia->name != ib->name || ia->value != ib->value)
      return false;
    ++ia;
    ++ib;
  }
}

inline void check_round_trip(const Request& req, const ParseLimits& limits) {
  RequestHeadOptions opts;
  if (req.chunked) {
    opts.framing = BodyFraming::kChunked;
  } else if (req.content_length >= 0) {
    opts.framing = BodyFraming::kContentLength;
    opts.content_length = static_cast<uint64_t>(req.content_length);
  }
  std::string wire;
  TURNPIKE_FUZZ_CHECK(serialize_request_head(req, opts, wire) == 0);

  // Wire shape: CRLF-terminated lines, no CR or LF inside one, never both framing fields.
  bool cl = false, te = false;
  size_t pos = 0;
  while (pos < wire.size()) {
    size_t eol = wire.find("\r\n", pos);
    TURNPIKE_FUZZ_CHECK(eol != std::string::npos);
    std::string_view line(wire.data() + pos, eol - pos);
    TURNPIKE_FUZZ_CHECK(line.find('\r') == std::string_view::npos);
    TURNPIKE_FUZZ_CHECK(line.find('\n') == std::string_view::npos);
    cl = cl || istarts_with(line, "content-length:");
    te = te || istarts_with(line, "transfer-encoding:");
    pos = eol + 2;
  }
  TURNPIKE_FUZZ_CHECK(!(cl && te));

  Request again;
  size_t hint = 0;
  ParseLimits relaxed = limits; // the serialiser may add a Host or framing field
  relaxed.max_header_fields += 2;
  relaxed.max_header_bytes += 256;
  ParseResult r = parse_request_head(wire, relaxed, again, hint);
  TURNPIKE_FUZZ_CHECK(r.complete());
  if (!r.complete())
    return;
  TURNPIKE_FUZZ_CHECK(r.consumed == wire.size());
  TURNPIKE_FUZZ_CHECK(again.method == req.method);
  TURNPIKE_FUZZ_CHECK(again.path == req.path);
  TURNPIKE_FUZZ_CHECK(again.has_query == req.has_query);
  TURNPIKE_FUZZ_CHECK(again.query == req.query);
  TURNPIKE_FUZZ_CHECK(again.host == req.host);
  // POST/PUT/PATCH without a body are sent with Content-Length: 0 (as Go does).
  bool zero_length = req.content_length < 0 && !req.chunked &&
                     (req.method == "POST" || req.method == "PUT" || req.method == "PATCH");
  TURNPIKE_FUZZ_CHECK(again.content_length == (zero_length ? 0 : req.content_length));
  TURNPIKE_FUZZ_CHECK(again.chunked == req.chunked);
  TURNPIKE_FUZZ_CHECK(same_headers_except(again.headers, req.headers));
  if (req.version == Version::kHttp11) {
    TURNPIKE_FUZZ_CHECK(again.authority == req.authority);
    TURNPIKE_FUZZ_CHECK(again.keep_alive == req.keep_alive);
    TURNPIKE_FUZZ_CHECK(again.upgrade_websocket == req.upgrade_websocket);
  }
}

// Decodes `body` once in one piece and once at the split points; both must agree.
inline void check_chunked_body(std::string_view body, const std::vector<size_t>& cuts) {
  struct Out {
    std::string data;
    bool done = false, error = false;
    size_t consumed = 0;
  };
  auto run = [&](bool split) {
    Out o;
    ChunkedDecoder dec;
    size_t from = 0;
    std::vector<size_t> points = split ? cuts : std::vector<size_t>{};
    points.push_back(body.size());
    for (size_t to : points) {
      if (to > body.size() || to < from)
        continue;
      std::string_view piece = body.substr(from, to - from);
      while (!piece.empty()) {
        ChunkedStep s = dec.decode(piece);
        TURNPIKE_FUZZ_CHECK(s.consumed <= piece.size());
        TURNPIKE_FUZZ_CHECK(s.data.empty() ||
                      (s.data.data() >= piece.data() &&
                       s.data.data() + s.data.size() <= piece.data() + piece.size()));
        o.data.append(s.data);
        o.consumed += s.consumed;
        piece.remove_prefix(s.consumed);
        if (s.error) {
          o.error = true;
          return o;
        }
        if (s.done) {
          o.done = true;
          TURNPIKE_FUZZ_CHECK(o.data.size() == dec.body_bytes());
          return o;
        }
        if (s.data.empty())
          TURNPIKE_FUZZ_CHECK(piece.empty());
      }
      from = to;
    }
    return o;
  };
  Out whole = run(false), pieces = run(true);
  TURNPIKE_FUZZ_CHECK(whole.error == pieces.error);
  TURNPIKE_FUZZ_CHECK(whole.done == pieces.done);
  if (!whole.error) {
    TURNPIKE_FUZZ_CHECK(whole.data == pieces.data);
    TURNPIKE_FUZZ_CHECK(whole.consumed == pieces.consumed);
  }
}

inline int run_one(const uint8_t* data, size_t size) {
  if (size < 1)
    return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const ParseLimits limits = fuzz_limits();
  const std::vector<size_t> cuts = split_points(data[0], in.size());

  Parsed once = parse_once(in, limits);
  Parsed split = parse_split(in, cuts, limits);
  TURNPIKE_FUZZ_CHECK(once.result.state == split.result.state);
  if (once.result.error() && split.result.error() && once.result.status != 431 &&
      split.result.status != 431)
    TURNPIKE_FUZZ_CHECK(once.result.status == split.result.status);
  if (!once.result.complete() || !split.result.complete())
    return 0;

  const Request& req = once.request;
  TURNPIKE_FUZZ_CHECK(once.result.consumed == split.result.consumed);
  TURNPIKE_FUZZ_CHECK(once.result.consumed <= in.size());
  TURNPIKE_FUZZ_CHECK(split.request.method == req.method && split.request.path == req.path &&
                split.request.query == req.query && split.request.host == req.host &&
                same_headers_except(split.request.headers, req.headers));
  TURNPIKE_FUZZ_CHECK(!(req.chunked && req.content_length >= 0));
  check_round_trip(req, limits);

  std::string norm, again;
  if (normalize_path(req.path, PathOptions{}, norm).empty()) {
    TURNPIKE_FUZZ_CHECK(normalize_path(norm, PathOptions{}, again).empty());
    TURNPIKE_FUZZ_CHECK(again == norm);
  }

  if (req.chunked) {
    std::string_view body = in.substr(once.result.consumed);
    std::vector<size_t> body_cuts;
    for (size_t c : cuts)
      if (c > once.result.consumed)
        body_cuts.push_back(c - once.result.consumed);
    check_chunked_body(body, body_cuts);
  }
  return 0;
}

} // namespace turnpike::http::h1_fuzz

extern "C" int TURNPIKE_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  return turnpike::http::h1_fuzz::run_one(data, size);
}

