#include "http/parser.h"

#include <gtest/gtest.h>

#include <string>

namespace turnpike::http {
namespace {

ParseResult parse(std::string_view raw, Request& req, const ParseLimits& limits = {}) {
  size_t hint = 0;
  return parse_request_head(raw, limits, req, hint);
}

ParseResult parse_response(std::string_view raw, Response& resp, bool head = false) {
  size_t hint = 0;
  return parse_response_head(raw, ParseLimits{}, head, resp, hint);
}

TEST(ParseRequest, FillsTheRequest) {
  Request req;
  std::string raw =
      "GET /a/%7e/b?x=1&y HTTP/1.1\r\nHost: Example.COM.:8080\r\nAccept:  text/html \t\r\n"
      "X-Empty:\r\n\r\nNEXT";
  ParseResult r = parse(raw, req);
  ASSERT_TRUE(r.complete()) << r.reason;
  EXPECT_EQ(r.consumed, raw.size() - 4);
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.version, Version::kHttp11);
  EXPECT_EQ(req.path, "/a/%7e/b"); // raw: normalisation is normalize_path's job
  EXPECT_TRUE(req.has_query);
  EXPECT_EQ(req.query, "x=1&y");
  EXPECT_EQ(req.authority, "Example.COM.:8080");
  EXPECT_EQ(req.host, "example.com");
  ASSERT_EQ(req.headers.size(), 3u);
  EXPECT_EQ(req.headers.get("accept"), "text/html");
  EXPECT_EQ(req.headers.get("X-Empty"), "");
  EXPECT_EQ(req.content_length, -1);
  EXPECT_FALSE(req.chunked);
  EXPECT_FALSE(req.has_body());
  EXPECT_TRUE(req.keep_alive);
}

TEST(ParseRequest, ReusesTheRequestAndKeepsConnectionFacts) {
  Request req;
  req.client_addr = boost::asio::ip::make_address("10.0.0.1");
  req.scheme = "https";
  ASSERT_TRUE(parse("POST /x?q HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n", req).complete());
  ASSERT_TRUE(parse("GET /y HTTP/1.1\r\nHost: b\r\n\r\n", req).complete());
  EXPECT_EQ(req.path, "/y");
  EXPECT_FALSE(req.has_query);
  EXPECT_EQ(req.query, "");
  EXPECT_EQ(req.content_length, -1);
  EXPECT_EQ(req.headers.size(), 1u);
  EXPECT_EQ(req.scheme, "https");
  EXPECT_EQ(req.client_addr.to_string(), "10.0.0.1");
}

TEST(ParseRequest, HostNormalisation) {
  struct Case {
    const char* host;
    const char* routing; // nullptr = 400
  } cases[] = {
      {"a.example", "a.example"},
      {"A.Example:80", "a.example"},
      {"a.example.", "a.example"},
      {"a.example.:443", "a.example"},
      {"[::1]:8080", "::1"},
      {"[2001:DB8::1]", "2001:db8::1"},
      {"127.0.0.1:1", "127.0.0.1"},
      {"", ""},
      {"a:", "a"},
      {"a:65535", "a"},
      {"xn--bcher-kva.example", "xn--bcher-kva.example"},
      {"a:65536", nullptr},
      {"a:-1", nullptr},
      {"a b", nullptr},
      {"u@a", nullptr},
      {"[::1", nullptr},
      {"[::1]x", nullptr},
      {"[fe80::1%25eth0]", nullptr},
      {"[v1.x]", nullptr},
      {"a:1:2", nullptr},
      {"a/b", nullptr},
      {"b\xc3\xbc"
       "cher.example",
       nullptr},
      {"a%zz", nullptr},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.host);
    Request req;
    ParseResult r = parse("GET / HTTP/1.1\r\nHost: " + std::string(c.host) + "\r\n\r\n", req);
    if (c.routing == nullptr) {
      ASSERT_TRUE(r.error());
      EXPECT_EQ(r.status, 400);
    } else {
      ASSERT_TRUE(r.complete()) << r.reason;
      EXPECT_EQ(req.host, c.routing);
      EXPECT_EQ(req.authority, c.host);
    }
  }
}

TEST(ParseRequest, AbsoluteForm) {
  Request req;
  ASSERT_TRUE(
      parse("GET HTTPS://A.example:8443?q=1 HTTP/1.1\r\nHost: other\r\n\r\n", req).complete());
  EXPECT_EQ(req.authority, "A.example:8443");
  EXPECT_EQ(req.host, "a.example");
  EXPECT_EQ(req.path, "/");
  EXPECT_EQ(req.query, "q=1");
  EXPECT_EQ(req.headers.get("Host"), "A.example:8443");
  EXPECT_EQ(req.headers.count("Host"), 1u);

  ASSERT_TRUE(parse("GET http://h/a/../b HTTP/1.1\r\nHost: h\r\n\r\n", req).complete());
  EXPECT_EQ(req.path, "/a/../b");

  // Empty authority: the Host field decides (Traefik's `GET http://@/` case).
  ASSERT_TRUE(parse("GET http:///x HTTP/1.1\r\nHost: h.example\r\n\r\n", req).complete());
  EXPECT_EQ(req.host, "h.example");
  EXPECT_EQ(req.path, "/x");

  // HTTP/1.0 absolute-form without Host: the authority becomes the Host field.
  ASSERT_TRUE(parse("GET http://h.example/ HTTP/1.0\r\n\r\n", req).complete());
  EXPECT_EQ(req.headers.get("Host"), "h.example");

  // The Host field must still be valid and present on HTTP/1.1.
  EXPECT_EQ(parse("GET http://h/ HTTP/1.1\r\n\r\n", req).status, 400);
  EXPECT_EQ(parse("GET http://h/ HTTP/1.1\r\nHost: a b\r\n\r\n", req).status, 400);
  EXPECT_EQ(parse("GET http://h:99999/ HTTP/1.1\r\nHost: h\r\n\r\n", req).status, 400);
  EXPECT_EQ(parse("GET http://@h/ HTTP/1.1\r\nHost: h\r\n\r\n", req).status, 400);
  EXPECT_EQ(parse("GET http:/h/ HTTP/1.1\r\nHost: h\r\n\r\n", req).status, 400);
}

TEST(ParseRequest, ExpectContinue) {
  Request req;
  ASSERT_TRUE(
      parse("PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n", req)
          .complete());
  EXPECT_TRUE(req.expect_continue);
  EXPECT_FALSE(req.headers.has("Expect"));
  // RFC 9110 10.1.1: ignored from HTTP/1.0 clients.
  ASSERT_TRUE(parse("PUT /x HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", req).complete());
  EXPECT_FALSE(req.expect_continue);
  ParseResult r = parse("PUT /x HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n", req);
  EXPECT_EQ(r.status, 417);
}

TEST(ParseRequest, WebSocketUpgrade) {
  const std::string ok_fields =
      "Connection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
  auto upgrade = [](const std::string& start, const std::string& fields) {
    Request req;
    EXPECT_TRUE(parse(start + "\r\nHost: a\r\n" + fields + "\r\n", req).complete());
    return req.upgrade_websocket;
  };
  EXPECT_TRUE(upgrade("GET /ws HTTP/1.1", ok_fields));
  EXPECT_FALSE(upgrade("POST /ws HTTP/1.1", ok_fields));
  EXPECT_FALSE(upgrade("GET /ws HTTP/1.1", "Upgrade: websocket\r\n"
                                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                           "Sec-WebSocket-Version: 13\r\n"));
  EXPECT_FALSE(upgrade("GET /ws HTTP/1.1", "Connection: upgrade\r\nUpgrade: h2c\r\n"
                                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                           "Sec-WebSocket-Version: 13\r\n"));
  EXPECT_FALSE(upgrade("GET /ws HTTP/1.1", "Connection: upgrade\r\nUpgrade: websocket\r\n"
                                           "Sec-WebSocket-Key: short==\r\n"
                                           "Sec-WebSocket-Version: 13\r\n"));
  EXPECT_FALSE(upgrade("GET /ws HTTP/1.1", "Connection: upgrade\r\nUpgrade: websocket\r\n"
                                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                           "Sec-WebSocket-Version: 8\r\n"));
  EXPECT_FALSE(upgrade("GET /ws HTTP/1.1", "Connection: upgrade\r\nUpgrade: websocket\r\n"
                                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                           "Sec-WebSocket-Version: 13\r\n"));
}

TEST(ParseRequest, KeepAlive) {
  struct Case {
    const char* head;
    bool keep_alive;
  } cases[] = {
      {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", false},
      {"GET / HTTP/1.0\r\n\r\n", false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
      {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", true}, // handled as 1.1
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.head);
    Request req;
    ASSERT_TRUE(parse(c.head, req).complete());
    EXPECT_EQ(req.keep_alive, c.keep_alive);
  }
}

TEST(ParseRequest, LeadingEmptyLinesAreSkippedAndCounted) {
  Request req;
  std::string raw = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
  ParseResult r = parse(raw, req);
  ASSERT_TRUE(r.complete());
  EXPECT_EQ(r.consumed, raw.size());
  EXPECT_EQ(parse("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", req).status, 400);
}

TEST(ParseRequest, ContentLengthNormalised) {
  Request req;
  ASSERT_TRUE(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n", req).complete());
  EXPECT_EQ(req.content_length, 7);
  EXPECT_EQ(req.headers.get("Content-Length"), "7");
  ASSERT_TRUE(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", req).complete());
  EXPECT_EQ(req.content_length, 0);
  EXPECT_FALSE(req.has_body());
  ASSERT_TRUE(
      parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n", req)
          .complete());
  EXPECT_EQ(req.content_length, INT64_MAX);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", req).status, 400);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,,5\r\n\r\n", req).status, 400);
}

TEST(ParseRequest, TransferEncodingVariants) {
  struct Case {
    const char* te;
    int status; // 0 = chunked
  } cases[] = {
      {"chunked", 0},         {"Chunked", 0},       {"chunked ", 0},
      {"gzip, chunked", 501}, {"identity", 501},    {"chunked, chunked", 400},
      {"chunked,", 400},      {"chunked;q=1", 400}, {"", 400},
      {"chunked, gzip", 400},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.te);
    Request req;
    ParseResult r = parse(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: " + std::string(c.te) + "\r\n\r\n", req);
    if (c.status == 0) {
      ASSERT_TRUE(r.complete()) << r.reason;
      EXPECT_TRUE(req.chunked);
      EXPECT_TRUE(req.has_body());
      EXPECT_EQ(req.headers.get("Transfer-Encoding"), "chunked");
    } else {
      EXPECT_EQ(r.status, c.status);
    }
  }
}

TEST(ParseRequest, UnderscoreStrategies) {
  const std::string raw = "GET / HTTP/1.1\r\nHost: a\r\nX_Y: 1\r\n\r\n";
  ParseLimits limits;
  Request req;
  ASSERT_TRUE(parse(raw, req, limits).complete());
  EXPECT_EQ(req.headers.get("X_Y"), "1");
  limits.underscore_headers = UnderscoreHeaders::kDelete;
  ASSERT_TRUE(parse(raw, req, limits).complete());
  EXPECT_FALSE(req.headers.has("X_Y"));
  limits.underscore_headers = UnderscoreHeaders::kReject;
  EXPECT_EQ(parse(raw, req, limits).status, 400);
}

// Limits, including the point of security.md T-P4: decided while incomplete, never waiting.
TEST(ParseRequest, RequestLineLimits) {
  Request req;
  auto line = [](size_t n) { return "GET /" + std::string(n - 14, 'a') + " HTTP/1.1"; };
  EXPECT_TRUE(parse(line(8000) + "\r\nHost: a\r\n\r\n", req).complete());
  EXPECT_TRUE(parse(line(16 * 1024) + "\r\nHost: a\r\n\r\n", req).complete());
  EXPECT_EQ(parse(line(16 * 1024 + 1) + "\r\nHost: a\r\n\r\n", req).status, 414);
  // Still incomplete but already too long.
  EXPECT_EQ(parse("GET /" + std::string(16 * 1024 + 10, 'a'), req).status, 414);
  EXPECT_TRUE(parse("GET /" + std::string(16 * 1024 - 10, 'a'), req).incomplete());
  // Never below the RFC minimum of 8000.
  ParseLimits tiny;
  tiny.max_request_line = 100;
  EXPECT_TRUE(parse(line(8000) + "\r\nHost: a\r\n\r\n", req, tiny).complete());
  EXPECT_EQ(parse(line(8001) + "\r\nHost: a\r\n\r\n", req, tiny).status, 414);
}

TEST(ParseRequest, HeaderLimits) {
  Request req;
  std::string fields;
  for (int i = 0; i < 99; ++i)
    fields += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_TRUE(parse("GET / HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n", req).complete());
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n" + fields + "X-Last: v\r\n\r\n", req).status, 431);

  std::string big(16 * 1024 - 7, 'v'); // "X-Big: " + value = exactly 16 KiB
  EXPECT_TRUE(parse("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + big + "\r\n\r\n", req).complete());
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + big + "v\r\n\r\n", req).status, 431);
  // A field that is still arriving but already too long.
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + big + "vvv", req).status, 431);

  ParseLimits limits;
  limits.max_header_bytes = 64 * 1024;
  std::string many;
  for (int i = 0; i < 9; ++i)
    many += "X-" + std::to_string(i) + ": " + std::string(8000, 'v') + "\r\n"; // > 64 KiB
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n" + many + "\r\n", req, limits).status, 431);
  // Incomplete head already over the section limit: an error, not "need more".
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n" + many, req, limits).status, 431);
  // The default section limit is Traefik's maxHeaderBytes (1 MiB).
  EXPECT_EQ(ParseLimits{}.max_header_bytes, 1024u * 1024u);
}

TEST(ParseRequest, ScanHintResumesWhereItStopped) {
  const std::string raw =
      "POST /upload?x HTTP/1.1\r\nHost: a.example\r\nContent-Length: 4\r\nX-A: b\r\n\r\nbody";
  Request whole;
  ASSERT_TRUE(parse(raw, whole).complete());
  Request req;
  size_t hint = 0;
  ParseResult r;
  size_t n = 0;
  for (n = 1; n <= raw.size(); ++n) {
    size_t before = hint;
    r = parse_request_head(std::string_view(raw).substr(0, n), ParseLimits{}, req, hint);
    if (!r.incomplete())
      break;
    EXPECT_GE(hint, before);
    EXPECT_LE(hint, n);
  }
  ASSERT_TRUE(r.complete());
  EXPECT_EQ(n, raw.size() - 4); // complete as soon as the empty line arrived
  EXPECT_EQ(r.consumed, raw.size() - 4);
  EXPECT_EQ(req.path, whole.path);
  EXPECT_EQ(req.content_length, 4);
  EXPECT_EQ(req.headers.size(), whole.headers.size());
}

TEST(ParseRequest, StaleScanHintRescans) {
  Request req;
  size_t hint = 1000;
  ParseResult r = parse_request_head("GET / HTTP/1.1\r\nHost: a\r\n\r\n", ParseLimits{}, req, hint);
  EXPECT_TRUE(r.complete());
}

// A head that arrives whole is parsed in one pass (line ends and limits checked while the fields
// are scanned); anything else is decided by the two-pass path. These cases pin the boundaries.
TEST(ParseRequest, OnePassStopsAtTheHeadsEnd) {
  Request req;
  // A body that does not end with LF, then a pipelined partial request: the head still ends at
  // its own empty line.
  std::string raw = "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
  ParseResult r = parse(raw, req);
  ASSERT_TRUE(r.complete()) << r.reason;
  EXPECT_EQ(r.consumed, raw.size() - 5);
  EXPECT_EQ(req.content_length, 5);
  raw = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: b\r\n";
  r = parse(raw, req);
  ASSERT_TRUE(r.complete()) << r.reason;
  EXPECT_EQ(r.consumed, raw.find("GET /2"));
  EXPECT_EQ(req.path, "/1");
  EXPECT_EQ(req.host, "a");
  // Complete field lines but no empty line yet: incomplete, not an error.
  size_t hint = 0;
  r = parse_request_head("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n", ParseLimits{}, req, hint);
  EXPECT_TRUE(r.incomplete());
  EXPECT_GT(hint, 0u);
  r = parse_request_head("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n", ParseLimits{}, req, hint);
  ASSERT_TRUE(r.complete()) << r.reason;
  EXPECT_EQ(req.headers.get("x"), "1");
}

TEST(ParseRequest, LineErrorsOfTheWholeHeadComeFirst) {
  // An invalid field name on line 2 and a field over the limit on line 3: phase 1's 431 wins,
  // as it did before the one-pass attempt.
  ParseLimits limits;
  limits.max_field_bytes = 64;
  Request req;
  std::string raw = "GET / HTTP/1.1\r\nBad Name: x\r\nX: " + std::string(100, 'a') +
                    "\r\nHost: a\r\n\r\n";
  ParseResult r = parse(raw, req, limits);
  ASSERT_TRUE(r.error());
  EXPECT_EQ(r.status, 431);
  // A bare LF after an invalid field: still the bare LF.
  r = parse("GET / HTTP/1.1\r\nBad Name: x\r\nHost: a\n\r\n", req);
  ASSERT_TRUE(r.error());
  EXPECT_EQ(r.reason, "bare LF line ending");
  // A bare CR ending a field line.
  r = parse("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", req);
  ASSERT_TRUE(r.error());
  EXPECT_EQ(r.status, 400);
  // The field-line limit applies exactly at the boundary, in one pass as in two.
  raw = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(61, 'a') + "\r\n\r\n";
  EXPECT_TRUE(parse(raw, req, limits).complete());
  raw = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(62, 'a') + "\r\n\r\n";
  r = parse(raw, req, limits);
  ASSERT_TRUE(r.error());
  EXPECT_EQ(r.status, 431);
}

TEST(ParseRequest, FieldValuesScannedEightBytesAtATime) {
  Request req;
  // HTAB inside a long value is kept; the value is trimmed of OWS at both ends.
  std::string raw = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: abcdefghij\tklmnopqrstu\tvwx \t\r\n\r\n";
  ParseResult r = parse(raw, req);
  ASSERT_TRUE(r.complete()) << r.reason;
  EXPECT_EQ(req.headers.get("x-long"), "abcdefghij\tklmnopqrstu\tvwx");
  // A CTL or DEL anywhere in a long value, at each offset of an eight-byte word.
  for (char bad : {'\x01', '\x7f', '\0', '\x1f'}) {
    for (size_t at = 0; at < 17; ++at) {
      std::string v(20, 'v');
      v[at] = bad;
      raw = "GET / HTTP/1.1\r\nHost: a\r\nX: " + v + "\r\n\r\n";
      r = parse(raw, req);
      ASSERT_TRUE(r.error()) << int(bad) << " at " << at;
      EXPECT_EQ(r.status, 400);
    }
  }
  // obs-text (bytes >= 0x80) is allowed.
  raw = "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9 \xff\xfe long value\r\n\r\n";
  r = parse(raw, req);
  ASSERT_TRUE(r.complete()) << r.reason;
  EXPECT_EQ(req.headers.get("x"), "caf\xc3\xa9 \xff\xfe long value");
}

TEST(ParseRequest, CharacterHelpers) {
  EXPECT_TRUE(is_token("X-Forwarded-For"));
  EXPECT_TRUE(is_token("!#$%&'*+-.^_`|~09AZaz"));
  EXPECT_FALSE(is_token(""));
  EXPECT_FALSE(is_token("a b"));
  EXPECT_FALSE(is_token("a:b"));
  EXPECT_TRUE(is_field_value_char('\t'));
  EXPECT_TRUE(is_field_value_char('\x80'));
  EXPECT_FALSE(is_field_value_char('\r'));
  EXPECT_FALSE(is_field_value_char('\x7f'));
  EXPECT_TRUE(list_contains_token("keep-alive , Upgrade", "upgrade"));
  EXPECT_FALSE(list_contains_token("upgrader", "upgrade"));
  EXPECT_EQ(hex_digit_value('f'), 15);
  EXPECT_EQ(hex_digit_value('G'), -1);
}

TEST(ParseResponse, Framing) {
  struct Case {
    const char* head;
    bool was_head;
    int status;
    int64_t content_length;
    bool chunked;
    bool no_body;
    bool keep_alive;
  } cases[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false, 200, 5, false, false, true},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, 200, -1, true, false, true},
      {"HTTP/1.1 200 OK\r\n\r\n", false, 200, -1, false, false, false}, // until close
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n", false, 200, 5, false,
       false, false},
      {"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n", false, 200, 5, false, false, false},
      {"HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n", false, 200, 5,
       false, false, true},
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, 200, 5, false, true, true},
      {"HTTP/1.1 200 OK\r\n\r\n", true, 200, -1, false, true, true},
      {"HTTP/1.1 204 No Content\r\n\r\n", false, 204, -1, false, true, true},
      {"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", false, 304, 10, false, true,
       true},
      {"HTTP/1.1 100 Continue\r\n\r\n", false, 100, -1, false, true, true},
      {"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
       false, 101, -1, false, true, true},
      {"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", false, 200, 5, false, false, true},
      {"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false, 200, 0, false, false, true},
      {"HTTP/1.1 599 Whatever You Like\r\nContent-Length: 0\r\n\r\n", false, 599, 0, false, false,
       true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.head);
    Response resp;
    ParseResult r = parse_response(c.head, resp, c.was_head);
    ASSERT_TRUE(r.complete()) << r.reason;
    EXPECT_EQ(r.consumed, std::string_view(c.head).size());
    EXPECT_EQ(resp.status, c.status);
    EXPECT_EQ(resp.content_length, c.content_length);
    EXPECT_EQ(resp.chunked, c.chunked);
    EXPECT_EQ(resp.no_body, c.no_body);
    EXPECT_EQ(resp.keep_alive, c.keep_alive);
  }
}

TEST(ParseResponse, ReasonAndHeaders) {
  Response resp;
  ASSERT_TRUE(parse_response("HTTP/1.1 404 Not Found\r\nX_Under: kept\r\nSet-Cookie: a=1\r\n"
                             "Set-Cookie: b=2\r\nContent-Length: 0\r\n\r\n",
                             resp)
                  .complete());
  EXPECT_EQ(resp.reason, "Not Found");
  EXPECT_EQ(resp.headers.get("X_Under"), "kept");
  EXPECT_EQ(resp.headers.count("Set-Cookie"), 2u);
  ASSERT_TRUE(parse_response("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", resp).complete());
  EXPECT_EQ(resp.reason, "");
}

TEST(ParseResponse, UpstreamProtocolErrorsAre502) {
  const char* bad[] = {
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\r\n",
      "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
      "HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-A : a\r\n\r\n",
      "HTTP/1.1 20 OK\r\n\r\n",
      "HTTP/1.1 2000 OK\r\n\r\n",
      "HTTP/1.1 099 OK\r\n\r\n",
      "HTTP/2.0 200 OK\r\n\r\n",
      "HTTP/1.1  200 OK\r\n\r\n",
      "HTTP/1.1 200 O\x01K\r\n\r\n",
      "http/1.1 200 OK\r\n\r\n",
      "\r\nHTTP/1.1 200 OK\r\n\r\n",
  };
  for (const char* b : bad) {
    SCOPED_TRACE(b);
    Response resp;
    ParseResult r = parse_response(b, resp);
    ASSERT_TRUE(r.error());
    EXPECT_EQ(r.status, 502);
    EXPECT_FALSE(r.reason.empty());
  }
}

} // namespace
} // namespace turnpike::http
