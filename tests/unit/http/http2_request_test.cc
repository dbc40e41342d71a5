// HTTP/2 request building and validation (security.md section 2.4, rows 41-48, and RFC 9113
// 8.1-8.5): decoded header fields in, a verdict and the Request the router would see out.

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "http/http2_request.h"
#include "http/serialize.h"

namespace turnpike::http {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;
using A = Http2Verdict::Action;

struct Built {
  Http2Verdict verdict;
  Request req;
};

Built build(const Fields& fields, bool end_stream = true, ParseLimits limits = {},
            PathOptions path = {}) {
  Built b;
  Http2RequestBuilder builder;
  builder.start(b.req, limits);
  for (const auto& [n, v] : fields)
    builder.add(n, v);
  b.verdict = builder.finish(end_stream, path);
  return b;
}

Fields get(std::string path = "/", Fields extra = {}) {
  Fields f{{":method", "GET"},
           {":scheme", "https"},
           {":authority", "Example.COM:8443"},
           {":path", std::move(path)}};
  for (auto& e : extra)
    f.push_back(std::move(e));
  return f;
}

TEST(Http2Request, BuildsTheRequestTheRouterSees) {
  auto b = build(get("/a/./b/../c?x=1", {{"user-agent", "t"}, {"accept", "*/*"}}));
  ASSERT_EQ(b.verdict.action, A::kServe) << b.verdict.reason;
  const Request& r = b.req;
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.version, Version::kHttp2);
  EXPECT_EQ(r.path, "/a/c");
  EXPECT_TRUE(r.has_query);
  EXPECT_EQ(r.query, "x=1");
  EXPECT_EQ(r.authority, "Example.COM:8443");
  EXPECT_EQ(r.host, "example.com");
  EXPECT_EQ(r.headers.get("host"), "Example.COM:8443"); // forwarded upstream as Host
  EXPECT_EQ(r.headers.get("user-agent"), "t");
  EXPECT_EQ(r.content_length, -1);
  EXPECT_FALSE(r.chunked);
  EXPECT_FALSE(r.has_body());
}

TEST(Http2Request, BodyFraming) {
  // No END_STREAM and no content-length: a body of unknown length (chunked towards HTTP/1.1).
  auto b = build(get("/", {}), /*end_stream=*/false);
  ASSERT_EQ(b.verdict.action, A::kServe);
  EXPECT_TRUE(b.req.chunked);
  auto c = build(get("/", {{"content-length", "12"}}), false);
  ASSERT_EQ(c.verdict.action, A::kServe);
  EXPECT_EQ(c.req.content_length, 12);
  EXPECT_FALSE(c.req.chunked);
  auto z = build(get("/", {{"content-length", "0"}}), true);
  ASSERT_EQ(z.verdict.action, A::kServe);
  EXPECT_EQ(z.req.content_length, 0);
}

TEST(Http2Request, HostFieldStandsInForAuthority) {
  Fields f{{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {"host", "b.example"}};
  auto b = build(f);
  ASSERT_EQ(b.verdict.action, A::kServe);
  EXPECT_EQ(b.req.authority, "b.example");
  EXPECT_EQ(b.req.host, "b.example");
  EXPECT_EQ(b.req.headers.count("host"), 1u);
}

TEST(Http2Request, CookieCrumbsAreJoined) {
  auto b = build(get("/", {{"cookie", "a=1"}, {"x", "y"}, {"cookie", "b=2"}}));
  ASSERT_EQ(b.verdict.action, A::kServe);
  EXPECT_EQ(b.req.headers.count("cookie"), 1u);
  EXPECT_EQ(b.req.headers.get("cookie"), "a=1; b=2");
}

TEST(Http2Request, ExpectContinueIsConsumed) {
  auto b = build(get("/", {{"expect", "100-continue"}}), false);
  ASSERT_EQ(b.verdict.action, A::kServe);
  EXPECT_TRUE(b.req.expect_continue);
  EXPECT_FALSE(b.req.headers.has("expect"));
  auto bad = build(get("/", {{"expect", "teapot"}}));
  EXPECT_EQ(bad.verdict.action, A::kRespond);
  EXPECT_EQ(bad.verdict.status, 417);
}

TEST(Http2Request, TeTrailersIsAllowed) {
  auto b = build(get("/", {{"te", "trailers"}}));
  EXPECT_EQ(b.verdict.action, A::kServe);
}

TEST(Http2Request, OptionsAsterisk) {
  Fields f{{":method", "OPTIONS"}, {":scheme", "http"}, {":authority", "a"}, {":path", "*"}};
  auto b = build(f);
  ASSERT_EQ(b.verdict.action, A::kServe) << b.verdict.reason;
  EXPECT_EQ(b.req.path, "*");
}

// security.md rows 41-48 and the RFC 9113 rules: every row is a stream error, never a request.
struct MalformedCase {
  const char* name;
  Fields fields;
  bool end_stream = true;
};

TEST(Http2Request, MalformedRequestsAreReset) {
  const std::vector<MalformedCase> cases = {
      {"41 uppercase name", get("/", {{"X-Upper", "a"}})},
      {"41 CRLF in value", get("/", {{"test1", "a\r\nx: y"}})},
      {"41 LF in value", get("/", {{"test1", "a\nb"}})},
      {"41 NUL in value", get("/", {{"test1", std::string("a\0b", 3)}})},
      {"41 CR in name", get("/", {{"te\rst", "a"}})},
      {"41 colon in name", get("/", {{"a:b", "a"}})},
      {"41 other CTL in value", get("/", {{"test1", "a\x01"}})},
      {"42 leading whitespace", get("/", {{"test1", " a"}})},
      {"42 trailing tab", get("/", {{"test1", "a\t"}})},
      {"43 transfer-encoding", get("/", {{"transfer-encoding", "chunked"}})},
      {"43 connection", get("/", {{"connection", "close"}})},
      {"43 keep-alive", get("/", {{"keep-alive", "5"}})},
      {"43 proxy-connection", get("/", {{"proxy-connection", "x"}})},
      {"43 upgrade", get("/", {{"upgrade", "websocket"}})},
      {"43 te gzip", get("/", {{"te", "gzip"}})},
      {"44 content-length with END_STREAM", get("/", {{"content-length", "5"}}), true},
      {"44 invalid content-length", get("/", {{"content-length", "5x"}}), false},
      {"44 negative content-length", get("/", {{"content-length", "-1"}}), false},
      {"44 duplicate content-length", get("/", {{"content-length", "1"}, {"content-length", "1"}}),
       false},
      {"45 pseudo after regular",
       {{":method", "GET"}, {":scheme", "http"}, {"x", "y"}, {":path", "/"}}},
      {"45 duplicate :path", get("/", {{":path", "/b"}})},
      {"45 unknown pseudo", get("/", {{":foo", "bar"}})},
      {"45 :status in request", get("/", {{":status", "200"}})},
      {"45 missing :scheme", {{":method", "GET"}, {":authority", "a"}, {":path", "/"}}},
      {"45 missing :path", {{":method", "GET"}, {":scheme", "http"}, {":authority", "a"}}},
      {"45 missing :method", {{":scheme", "http"}, {":authority", "a"}, {":path", "/"}}},
      {"45 empty :path", get("")},
      {"45 relative :path", get("index.html")},
      {"45 absolute-form :path", get("http://a/x")},
      {"45 asterisk without OPTIONS", get("*")},
      {"45 invalid :method", {{":method", "G T"}, {":scheme", "http"}, {":path", "/"}}},
      {"45 invalid :scheme", {{":method", "GET"}, {":scheme", "1http"}, {":path", "/"}}},
      {"46 host differs from :authority", get("/", {{"host", "other.example"}})},
      {"47 CONNECT with :path", {{":method", "CONNECT"}, {":authority", "a:443"}, {":path", "/"}}},
      {"47 CONNECT with :scheme",
       {{":method", "CONNECT"}, {":authority", "a:443"}, {":scheme", "https"}}},
      {"47 :protocol (no extended CONNECT)", get("/", {{":protocol", "websocket"}})},
      {"48 empty field name", get("/", {{"", "x"}})},
  };
  for (const auto& c : cases) {
    auto b = build(c.fields, c.end_stream);
    EXPECT_EQ(b.verdict.action, A::kReset) << c.name << " -> " << b.verdict.reason;
  }
}

TEST(Http2Request, LocalAnswers) {
  struct Case {
    const char* name;
    Fields fields;
    int status;
  };
  ParseLimits limits;
  const std::vector<Case> cases = {
      {"CONNECT is not proxied", {{":method", "CONNECT"}, {":authority", "a:443"}}, 405},
      {"encoded slash", get("/admin%2Fsecret"), 400},
      {"climbing above the root", get("/../etc"), 400},
      {"backslash", get("/a\\b"), 400},
      {"fragment", get("/a#b"), 400},
      {"non-ASCII", get("/\xc3\xa9"), 400},
      {"userinfo in authority",
       {{":method", "GET"}, {":scheme", "http"}, {":authority", "u@a"}, {":path", "/"}},
       400},
      {"bad port",
       {{":method", "GET"}, {":scheme", "http"}, {":authority", "a:99999"}, {":path", "/"}},
       400},
      {"two host fields",
       {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {"host", "a"}, {"host", "a"}},
       400},
  };
  for (const auto& c : cases) {
    auto b = build(c.fields, true, limits);
    EXPECT_EQ(b.verdict.action, A::kRespond) << c.name << " -> " << b.verdict.reason;
    EXPECT_EQ(b.verdict.status, c.status) << c.name;
  }
}

TEST(Http2Request, LimitsGive431) {
  ParseLimits limits;
  limits.max_header_fields = 3;
  auto many = build(get("/", {{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}}), true, limits);
  EXPECT_EQ(many.verdict.action, A::kRespond);
  EXPECT_EQ(many.verdict.status, 431);

  ParseLimits small;
  small.max_header_bytes = 300;
  auto big = build(get("/", {{"a", std::string(300, 'x')}}), true, small);
  EXPECT_EQ(big.verdict.status, 431);

  ParseLimits field;
  field.max_field_bytes = 100;
  auto longf = build(get("/", {{"a", std::string(100, 'x')}}), true, field);
  EXPECT_EQ(longf.verdict.status, 431);
}

TEST(Http2Request, DecodedSizeIsCounted) {
  Request r;
  ParseLimits limits;
  Http2RequestBuilder b;
  b.start(r, limits);
  b.add(":method", "GET");
  b.add("abc", "12345");
  EXPECT_EQ(b.field_count(), 2u);
  EXPECT_EQ(b.decoded_bytes(), (7 + 3 + 32) + (3 + 5 + 32));
}

TEST(Http2Request, UnderscoreStrategies) {
  ParseLimits keep, del, reject;
  del.underscore_headers = UnderscoreHeaders::kDelete;
  reject.underscore_headers = UnderscoreHeaders::kReject;
  auto k = build(get("/", {{"x_a", "1"}}), true, keep);
  EXPECT_TRUE(k.req.headers.has("x_a"));
  auto d = build(get("/", {{"x_a", "1"}}), true, del);
  ASSERT_EQ(d.verdict.action, A::kServe);
  EXPECT_FALSE(d.req.headers.has("x_a"));
  auto r = build(get("/", {{"x_a", "1"}}), true, reject);
  EXPECT_EQ(r.verdict.status, 400);
}

TEST(Http2Request, FirstProblemWins) {
  // A 431 found first is not turned into a reset by a later malformed field, and vice versa.
  ParseLimits limits;
  limits.max_header_fields = 1;
  auto b = build(get("/", {{"a", "1"}, {"b", "2"}, {"X-Bad", "3"}}), true, limits);
  EXPECT_EQ(b.verdict.status, 431);
  auto c = build(get("/", {{"X-Bad", "3"}, {"a", "1"}, {"b", "2"}}), true, limits);
  EXPECT_EQ(c.verdict.action, A::kReset);
}

TEST(Http2Request, TrailerFields) {
  EXPECT_EQ(check_http2_trailer("grpc-status", "0"), TrailerField::kKeep);
  EXPECT_EQ(check_http2_trailer("x-checksum", "abc"), TrailerField::kKeep);
  // security.md row 20: framing and routing fields never come from a trailer section.
  EXPECT_EQ(check_http2_trailer("content-length", "5"), TrailerField::kDrop);
  EXPECT_EQ(check_http2_trailer("host", "evil"), TrailerField::kDrop);
  EXPECT_EQ(check_http2_trailer(":path", "/"), TrailerField::kMalformed);
  EXPECT_EQ(check_http2_trailer("Grpc-Status", "0"), TrailerField::kMalformed);
  EXPECT_EQ(check_http2_trailer("x", "a\r\nb"), TrailerField::kMalformed);
  EXPECT_EQ(check_http2_trailer("transfer-encoding", "chunked"), TrailerField::kMalformed);
}

TEST(Http2Request, ForwardedUpstreamAsHttp11) {
  // The HTTP/1.1 request an HTTP/2 request becomes: Host from :authority, chunked framing for a
  // body of unknown length, no pseudo-headers.
  auto b = build(get("/up?q", {{"x-a", "1"}}), false);
  ASSERT_EQ(b.verdict.action, A::kServe);
  RequestHeadOptions o;
  o.framing = BodyFraming::kChunked;
  std::string out;
  serialize_request_head(b.req, o, out);
  EXPECT_EQ(out, "GET /up?q HTTP/1.1\r\nHost: Example.COM:8443\r\nx-a: 1\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n");
}

} // namespace
} // namespace turnpike::http
