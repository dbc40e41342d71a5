// security.md section 2.4, rows 1-40 (the HTTP/1 rows): raw client bytes in, either the status
// the gateway answers (and then nothing is serialised for the upstream) or the canonical
// request the upstream receives. Each row runs the same library pipeline the entrypoint runs:
// parse_request_head -> normalize_path -> strip_hop_by_hop -> apply_forwarded_headers -> body
// (ChunkedDecoder) -> strip_hop_by_hop (proxy) -> serialize_request_head.

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "http/chunked.h"
#include "http/forwarded.h"
#include "http/parser.h"
#include "http/path.h"
#include "http/serialize.h"

namespace turnpike::http {
namespace {

struct Outcome {
  int status = 0; // 0: forwarded; -1: incomplete; else the status answered
  std::string reason;
  std::string upstream; // serialised head + re-chunked/plain body (only when forwarded)
  Request req;
  HeaderMap trailers;
};

struct Gateway {
  ParseLimits limits;
  PathOptions path;
  ForwardedOptions forwarded;
  std::string peer = "192.0.2.7";
};

Outcome run_pipeline(std::string_view raw, const Gateway& setup = {}) {
  Outcome o;
  Request& req = o.req;
  req.client_addr = boost::asio::ip::make_address(setup.peer);
  size_t hint = 0;
  ParseResult r = parse_request_head(raw, setup.limits, req, hint);
  if (r.incomplete()) {
    o.status = -1;
    return o;
  }
  if (r.error()) {
    o.status = r.status;
    o.reason = r.reason;
    return o;
  }
  std::string raw_path;
  raw_path.swap(req.path);
  if (auto why = normalize_path(raw_path, setup.path, req.path); !why.empty()) {
    o.status = 400;
    o.reason = why;
    return o;
  }
  strip_hop_by_hop(req.headers, req.upgrade_websocket, setup.forwarded.connection);
  apply_forwarded_headers(req, setup.forwarded);

  std::string_view rest = raw.substr(r.consumed);
  std::string body;
  RequestHeadOptions head;
  if (req.chunked) {
    ChunkedDecoder dec;
    for (;;) {
      ChunkedStep s = dec.decode(rest);
      rest.remove_prefix(s.consumed);
      if (s.error) {
        o.status = 400;
        o.reason = s.error_reason;
        return o;
      }
      if (s.done)
        break;
      if (!s.data.empty()) {
        append_chunk(body, s.data);
      } else if (rest.empty()) {
        o.status = -1;
        return o;
      }
    }
    append_last_chunk(body, &dec.trailers());
    o.trailers = dec.trailers();
    head.framing = BodyFraming::kChunked;
  } else if (req.content_length >= 0) {
    if (rest.size() < static_cast<size_t>(req.content_length)) {
      o.status = -1;
      return o;
    }
    body.assign(rest.substr(0, static_cast<size_t>(req.content_length)));
    head.framing = BodyFraming::kContentLength;
    head.content_length = static_cast<uint64_t>(req.content_length);
  }
  strip_hop_by_hop(req.headers, req.upgrade_websocket);
  serialize_request_head(req, head, o.upstream);
  o.upstream += body;
  return o;
}

struct Row {
  std::string name;
  std::string raw;
  int status = 0;                    // expected; 0 = forwarded
  std::vector<std::string> has = {}; // substrings of the upstream bytes
  std::vector<std::string> lacks = {};
  std::function<void(Gateway&)> setup = nullptr;
  std::function<void(const Outcome&)> check = nullptr;
};

std::string req11(std::string_view fields, std::string_view start = "GET / HTTP/1.1") {
  return std::string(start) + "\r\nHost: a.example\r\n" + std::string(fields) + "\r\n";
}

std::vector<Row> table() {
  std::vector<Row> rows = {
      // Framing: Content-Length / Transfer-Encoding.
      {"01 CL+TE", req11("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "POST / HTTP/1.1"),
       400},
      {"02 CL 1 then CL 0", req11("Content-Length: 1\r\nContent-Length: 0\r\n", "POST / HTTP/1.1"),
       400},
      {"02 CL list differs", req11("Content-Length: 1, 2\r\n", "POST / HTTP/1.1"), 400},
      {"03 CL list identical",
       req11("Content-Length: 5, 5\r\n", "POST / HTTP/1.1") + "hello",
       0,
       {"Content-Length: 5\r\n", "\r\n\r\nhello"},
       {"5, 5"}},
      {"03 two identical CL fields",
       req11("Content-Length: 5\r\nContent-Length: 5\r\n", "POST / HTTP/1.1") + "hello",
       0,
       {"Content-Length: 5\r\n\r\nhello"},
       {}},
      {"04 CL empty", req11("Content-Length:\r\n", "POST / HTTP/1.1"), 400},
      {"05 CL +5", req11("Content-Length: +5\r\n", "POST / HTTP/1.1"), 400},
      {"05 CL -1", req11("Content-Length: -1\r\n", "POST / HTTP/1.1"), 400},
      {"05 CL 0x10", req11("Content-Length: 0x10\r\n", "POST / HTTP/1.1"), 400},
      {"05 CL 1_0", req11("Content-Length: 1_0\r\n", "POST / HTTP/1.1"), 400},
      {"05 CL 5 5", req11("Content-Length: 5 5\r\n", "POST / HTTP/1.1"), 400},
      {"05 CL arabic digit", req11("Content-Length: \xd9\xa5\r\n", "POST / HTTP/1.1"), 400},
      {"06 CL overflow", req11("Content-Length: 99999999999999999999\r\n", "POST / HTTP/1.1"), 400},
      {"06 CL above int64", req11("Content-Length: 9223372036854775808\r\n", "POST / HTTP/1.1"),
       400},
      {"07 TE chunked not last", req11("Transfer-Encoding: chunked, gzip\r\n", "POST / HTTP/1.1"),
       400},
      {"08 TE gzip only", req11("Transfer-Encoding: gzip\r\n", "POST / HTTP/1.1"), 501},
      {"09 TE xchunked", req11("Transfer-Encoding: xchunked\r\n", "POST / HTTP/1.1"), 501},
      {"09 TE chunked-false", req11("Transfer-Encoding: chunked-false\r\n", "POST / HTTP/1.1"),
       501},
      {"10 TE ,chunked", req11("Transfer-Encoding: ,chunked\r\n", "POST / HTTP/1.1"), 400},
      {"11 two TE fields",
       req11("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", "POST / HTTP/1.1"),
       400},
      {"12 TE CHUNKED",
       req11("Transfer-Encoding: CHUNKED\r\n", "POST / HTTP/1.1") + "3\r\nabc\r\n0\r\n\r\n",
       0,
       {"Transfer-Encoding: chunked\r\n", "\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
       {"CHUNKED"}},
      {"13 space before colon (TE)", req11("Transfer-Encoding : chunked\r\n", "POST / HTTP/1.1"),
       400},
      {"13 space before colon (CL)", req11("Content-Length : 5\r\n", "POST / HTTP/1.1"), 400},
      {"14 VT before name", req11("\x0bTransfer-Encoding: chunked\r\n", "POST / HTTP/1.1"), 400},
      {"14 0x85 in name", req11("Transfer-Encoding\x85: chunked\r\n", "POST / HTTP/1.1"), 400},
      {"15 HTTP/1.0 with TE", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},

      // Chunked bodies.
      {"16 chunk size 0x2e",
       req11("Transfer-Encoding: chunked\r\n", "POST / HTTP/1.1") + "0x2e\r\n" +
           std::string(46, 'a') + "\r\n0\r\n\r\n",
       400},
      {"16 chunk size 0_2e",
       req11("Transfer-Encoding: chunked\r\n", "POST / HTTP/1.1") + "0_2e\r\n" +
           std::string(46, 'a') + "\r\n0\r\n\r\n",
       400},
      {"16 chunk size +1",
       req11("Transfer-Encoding: chunked\r\n", "POST / HTTP/1.1") + "+1\r\na\r\n0\r\n\r\n", 400},
      {"16 chunk size Z",
       req11("Transfer-Encoding: chunked\r\n", "POST / HTTP/1.1") + "Z\r\na\r\n0\r\n\r\n", 400},
      {"16 chunk size empty",
       req11("Transfer-Encoding: chunked\r\n", "POST / HTTP/1.1") + "\r\na\r\n0\r\n\r\n", 400},
      {"16 chunk size 17 hex digits",
       req11("Transfer-Encoding: chunked\r\n", "POST / HTTP/1.1") +
           "00000000000000001\r\na\r\n0\r\n\r\n",
       400},
      {"16 chunk size 16 hex digits is fine",
       req11("Transfer-Encoding: chunked\r\n", "POST / HTTP/1.1") +
           "0000000000000001\r\na\r\n0\r\n\r\n",
       0,
       {"\r\n\r\n1\r\na\r\n0\r\n\r\n"}},
      {"17 bare CR in chunk-ext BWS",
       req11("Transfer-Encoding: chunked\r\n", "POST / HTTP/1.1") + "2\r\r;a\r\nxx\r\n0\r\n\r\n",
       400},
      {"18 chunk-ext over 4 KiB",
       req11("Transfer-Encoding: chunked\r\n", "POST / HTTP/1.1") +
           "1;a=" + std::string(4100, 'b') + "\r\nx\r\n0\r\n\r\n",
       400},
      {"18 chunk-ext over 16 KiB per message",
       [] {
         std::string s = req11("Transfer-Encoding: chunked\r\n", "POST / HTTP/1.1");
         for (int i = 0; i < 5; ++i)
           s += "1;a=" + std::string(3800, 'b') + "\r\nx\r\n";
         return s + "0\r\n\r\n";
       }(),
       400},
      {"19 chunk data not followed by CRLF",
       req11("Transfer-Encoding: chunked\r\n", "POST / HTTP/1.1") + "1\r\nZX0\r\n\r\n", 400},
      {"19 last chunk with bare LF",
       req11("Transfer-Encoding: chunked\r\n", "POST / HTTP/1.1") + "0\n\r\n", 400},
      {"20 trailers drop CL/TE/Host",
       req11("Transfer-Encoding: chunked\r\n", "POST / HTTP/1.1") +
           "1\r\nx\r\n0\r\nContent-Length: 5\r\nTransfer-Encoding: gzip\r\nHost: evil\r\n"
           "X-Checksum: abc\r\n\r\n",
       0,
       {"0\r\nX-Checksum: abc\r\n\r\n"},
       {"Content-Length", "gzip", "evil"},
       nullptr,
       [](const Outcome& o) {
         EXPECT_EQ(o.trailers.size(), 1u);
         EXPECT_EQ(o.req.headers.get("Host"), "a.example");
       }},

      // Line endings and field syntax.
      {"21 bare LF line endings", "GET / HTTP/1.1\nHost: a\n\n", 400},
      {"21 bare LF after the request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
      {"22 bare CR inside a line", req11("Visible: :/\rSmuggled: :)\r\n"), 400},
      {"23 obs-fold", req11("X-A: a\r\n b\r\n"), 400},
      {"24 whitespace-led first field", "GET / HTTP/1.1\r\n\tContent-Length: 1\r\nHost: a\r\n\r\n",
       400},
      {"25 NUL in value", req11(std::string("X-A: a\0b\r\n", 10)), 400},
      {"25 0x01 in value",
       req11("X-A: a\x01"
             "b\r\n"),
       400},
      {"25 0x1f in value",
       req11("X-A: a\x1f"
             "b\r\n"),
       400},
      {"25 DEL in value",
       req11("X-A: a\x7f"
             "b\r\n"),
       400},
      {"25 HTAB in value is fine", req11("X-A: a\tb\r\n"), 0, {"X-A: a\tb\r\n"}},
      {"26 empty field name", req11(": x\r\n"), 400},

      // Underscores (Traefik underscoreHeadersStrategy; default keep).
      {"27 underscore kept by default", req11("X_Custom: 1\r\n"), 0, {"X_Custom: 1\r\n"}},
      {"27 underscore variant of a gateway header removed for untrusted peers",
       req11("X_Forwarded_For: 1.2.3.4\r\nX_Real_Ip: 1.2.3.4\r\n"),
       0,
       {"X-Forwarded-For: 192.0.2.7\r\n"},
       {"1.2.3.4", "X_Forwarded_For", "X_Real_Ip"}},
      {"27 underscore delete",
       req11("X_Custom: 1\r\n"),
       0,
       {},
       {"X_Custom"},
       [](Gateway& s) { s.limits.underscore_headers = UnderscoreHeaders::kDelete; }},
      {"27 underscore reject",
       req11("X_Custom: 1\r\n"),
       400,
       {},
       {},
       [](Gateway& s) { s.limits.underscore_headers = UnderscoreHeaders::kReject; }},

      // Host.
      {"28 HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", 400},
      {"28 HTTP/1.0 without Host is fine", "GET / HTTP/1.0\r\n\r\n", 0, {"GET / HTTP/1.1\r\n"}},
      {"29 two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},
      {"29 Host a b", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
      {"29 Host u@a", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
      {"29 Host port too large", "GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n", 400},
      {"29 Host port not numeric", "GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n", 400},
      {"30 absolute-form wins over Host",
       "GET http://a.example/x HTTP/1.1\r\nHost: b.example\r\n\r\n",
       0,
       {"GET /x HTTP/1.1\r\nHost: a.example\r\n", "X-Forwarded-Host: a.example\r\n"},
       {"b.example"},
       nullptr,
       [](const Outcome& o) { EXPECT_EQ(o.req.host, "a.example"); }},
      {"30 absolute-form with empty host falls back to Host (Traefik)",
       "GET http://@/ HTTP/1.1\r\nHost: b.example\r\n\r\n",
       0,
       {"GET / HTTP/1.1\r\nHost: b.example\r\n"},
       {},
       nullptr,
       [](const Outcome& o) { EXPECT_EQ(o.req.host, "b.example"); }},

      // Request target.
      {"31 ftp scheme", "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"31 userinfo", "GET http://u:p@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"31 target foo", "GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"31 target !", "GET ! HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"31 GET *", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"31 OPTIONS * is fine",
       "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
       0,
       {"OPTIONS * HTTP/1.1\r\n"}},
      {"32 CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 405},
      {"33 fragment", "GET /#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"33 raw backslash", "GET /a\\b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"33 raw NUL", std::string("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n", 30), 400},

      // Limits.
      {"34 request line over 16 KiB",
       "GET /" + std::string(16 * 1024, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
      {"34 request line of 8000 bytes is fine",
       "GET /" + std::string(8000 - 14, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", 0},
      {"35 header section over the limit",
       req11("X-Big: " + std::string(40 * 1024, 'v') + "\r\n"),
       431,
       {},
       {},
       [](Gateway& s) {
         s.limits.max_header_bytes = 32 * 1024;
         s.limits.max_field_bytes = 64 * 1024;
       }},
      {"35 101 fields",
       [] {
         std::string f;
         for (int i = 0; i < 100; ++i)
           f += "X-" + std::to_string(i) + ": v\r\n";
         return req11(f); // + Host = 101
       }(),
       431},
      {"35 one field over 16 KiB", req11("X-Big: " + std::string(16 * 1024, 'v') + "\r\n"), 431},

      // Version.
      {"36 HTTP/1.32", "GET / HTTP/1.32\r\nHost: a\r\n\r\n", 400},
      {"36 HTTP/9.9", "GET / HTTP/9.9\r\nHost: a\r\n\r\n", 505},
      {"36 HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
      {"36 HTTP/1.1x", "GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400},
      {"36 lowercase http/1.1", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},

      // Request line shape and method.
      {"37 double SP", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"37 tab separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"37 LF inside the request line", "GET /\nHTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"38 method not a token", "G=\":<>(e) / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"38 unknown token method forwarded as is",
       "PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n",
       0,
       {"PURGE /x HTTP/1.1\r\n"}},

      // Hop-by-hop.
      {"39 h2c upgrade never forwarded",
       req11("Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: "
             "AAMAAABkAAQAAP__\r\n"),
       0,
       {},
       {"Upgrade", "HTTP2-Settings", "h2c", "Connection"}},
      {"40 Connection nominating gateway headers",
       req11("Connection: close, X-Forwarded-Host, X-Real-Ip, X-Forwarded-For\r\n"
             "X-Forwarded-Host: evil.example\r\n"),
       0,
       {"X-Forwarded-Host: a.example\r\n", "X-Real-Ip: 192.0.2.7\r\n",
        "X-Forwarded-For: 192.0.2.7\r\n", "X-Forwarded-Proto: http\r\n",
        "X-Forwarded-Port: 80\r\n"},
       {"evil", "Connection"}},
      {"40 Connection nominating gateway headers from a trusted peer keeps them",
       req11("Connection: X-Forwarded-Host\r\nX-Forwarded-Host: front.example\r\n"),
       0,
       {"X-Forwarded-Host: front.example\r\n"},
       {},
       [](Gateway& s) { s.forwarded.trusted_ips = IpNetSet::parse({"192.0.2.0/24"}).value(); }},
  };
  return rows;
}

TEST(MalformedTable, EveryHttp1Row) {
  std::vector<bool> covered(41, false);
  for (const Row& row : table()) {
    SCOPED_TRACE(row.name);
    covered[static_cast<size_t>(std::stoi(row.name.substr(0, 2)))] = true;
    Gateway setup;
    if (row.setup)
      row.setup(setup);
    Outcome o = run_pipeline(row.raw, setup);
    EXPECT_EQ(o.status, row.status) << o.reason;
    if (row.status != 0) {
      EXPECT_TRUE(o.upstream.empty()) << "nothing may be sent upstream for a rejected request";
      continue;
    }
    for (const auto& s : row.has)
      EXPECT_NE(o.upstream.find(s), std::string::npos) << s << "\n" << o.upstream;
    for (const auto& s : row.lacks)
      EXPECT_EQ(o.upstream.find(s), std::string::npos) << s << "\n" << o.upstream;
    if (row.check)
      row.check(o);
  }
  for (size_t i = 1; i <= 40; ++i)
    EXPECT_TRUE(covered[i]) << "row " << i << " has no case";
}

// The same table with the bytes arriving in two pieces at every offset (the incremental
// parser must decide exactly as it does on the whole input).
TEST(MalformedTable, EveryRowSplitAnywhere) {
  for (const Row& row : table()) {
    if (row.raw.size() > 600)
      continue; // the limit rows are long; covered by the fuzz test
    SCOPED_TRACE(row.name);
    Gateway setup;
    if (row.setup)
      row.setup(setup);
    Request whole;
    size_t whole_hint = 0;
    ParseResult expected = parse_request_head(row.raw, setup.limits, whole, whole_hint);
    for (size_t cut = 1; cut < row.raw.size(); ++cut) {
      Request req;
      size_t hint = 0;
      ParseResult r =
          parse_request_head(std::string_view(row.raw).substr(0, cut), setup.limits, req, hint);
      if (r.incomplete())
        r = parse_request_head(row.raw, setup.limits, req, hint);
      ASSERT_EQ(r.state, expected.state) << "cut at " << cut;
      EXPECT_EQ(r.status, expected.status) << "cut at " << cut;
      EXPECT_EQ(r.consumed, expected.consumed) << "cut at " << cut;
    }
  }
}

} // namespace
} // namespace turnpike::http
