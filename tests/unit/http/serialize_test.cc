#include "http/serialize.h"

#include <gtest/gtest.h>

#include <string>

#include "http/parser.h"

namespace turnpike::http {
namespace {

Request parsed(std::string_view raw) {
  Request req;
  size_t hint = 0;
  EXPECT_TRUE(parse_request_head(raw, ParseLimits{}, req, hint).complete());
  return req;
}

TEST(SerializeRequestHead, CanonicalHead) {
  Request req =
      parsed("POST /p?q=1 HTTP/1.1\r\nX-A: 1\r\nHost: a.example\r\nContent-Length: 5, 5\r\n"
             "X-B: 2\r\n\r\n");
  RequestHeadOptions o;
  o.framing = BodyFraming::kContentLength;
  o.content_length = 5;
  std::string out = "keep:";
  EXPECT_EQ(serialize_request_head(req, o, out), 0u);
  EXPECT_EQ(out, "keep:POST /p?q=1 HTTP/1.1\r\nHost: a.example\r\nX-A: 1\r\nX-B: 2\r\n"
                 "Content-Length: 5\r\n\r\n");
}

TEST(SerializeRequestHead, FramingChosenByTheProxy) {
  Request req = parsed("POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  std::string out;
  RequestHeadOptions o;
  o.framing = BodyFraming::kChunked;
  serialize_request_head(req, o, out);
  EXPECT_EQ(out, "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");

  // A chunked request re-framed with a length (e.g. after buffering).
  out.clear();
  o.framing = BodyFraming::kContentLength;
  o.content_length = 12;
  serialize_request_head(req, o, out);
  EXPECT_EQ(out, "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n");

  // POST/PUT/PATCH without a body get Content-Length: 0, as Go's transport sends.
  out.clear();
  serialize_request_head(parsed("PUT /p HTTP/1.1\r\nHost: a\r\n\r\n"), {}, out);
  EXPECT_NE(out.find("Content-Length: 0\r\n"), std::string::npos);
  out.clear();
  serialize_request_head(parsed("GET /p HTTP/1.1\r\nHost: a\r\n\r\n"), {}, out);
  EXPECT_EQ(out, "GET /p HTTP/1.1\r\nHost: a\r\n\r\n");
}

TEST(SerializeRequestHead, TargetHostAndClose) {
  Request req = parsed("GET /p?x HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n");
  RequestHeadOptions o;
  o.target = "/base/p?x";
  o.host = "10.0.0.5:8080"; // passHostHeader=false
  o.connection_close = true;
  std::string out;
  serialize_request_head(req, o, out);
  EXPECT_EQ(out, "GET /base/p?x HTTP/1.1\r\nHost: 10.0.0.5:8080\r\nConnection: close\r\n\r\n");

  // An HTTP/1.0 request without Host is sent as HTTP/1.1 with an empty Host (RFC 9112 3.2).
  out.clear();
  serialize_request_head(parsed("GET / HTTP/1.0\r\n\r\n"), {}, out);
  EXPECT_EQ(out, "GET / HTTP/1.1\r\nHost: \r\n\r\n");
}

TEST(SerializeRequestHead, RepairsWhatMiddlewaresSet) {
  Request req = parsed("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  req.headers.add("X-Injected", "a\r\nEvil: 1");
  req.headers.add("Bad Name", "x");
  req.headers.add("X-Nul", std::string("a\0b", 3));
  req.path = "/a b\r\n";
  std::string out;
  EXPECT_EQ(serialize_request_head(req, {}, out), 4u);
  EXPECT_EQ(out,
            "GET /a%20b%0D%0A HTTP/1.1\r\nHost: a\r\nX-Injected: a  Evil: 1\r\nX-Nul: a b\r\n\r\n");
}

TEST(SerializeRequestHead, AppendsXForwardedForWithoutChangingTheRequest) {
  Request req = parsed("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nX-A: b\r\n"
                       "X-Forwarded-For: 2.2.2.2\r\n\r\n");
  req.client_addr = boost::asio::ip::make_address("192.0.2.9");
  req.append_x_forwarded_for = true;
  std::string out;
  serialize_request_head(req, {}, out);
  EXPECT_EQ(out, "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2, 192.0.2.9\r\n"
                 "X-A: b\r\n\r\n");
  EXPECT_EQ(req.headers.count("X-Forwarded-For"), 2u);

  Request bare = parsed("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  bare.client_addr = boost::asio::ip::make_address("2001:db8::7");
  bare.append_x_forwarded_for = true;
  out.clear();
  serialize_request_head(bare, {}, out);
  EXPECT_EQ(out, "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 2001:db8::7\r\n\r\n");
}

TEST(SerializeRequestHead, SteadyStateDoesNotReallocate) {
  Request req =
      parsed("GET /some/path?and=query HTTP/1.1\r\nHost: a.example\r\nUser-Agent: test\r\n"
             "Accept: */*\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n");
  req.append_x_forwarded_for = true;
  std::string out;
  serialize_request_head(req, {}, out);
  const char* data = out.data();
  size_t capacity = out.capacity();
  for (int i = 0; i < 10; ++i) {
    out.clear();
    serialize_request_head(req, {}, out);
    EXPECT_EQ(out.data(), data);
    EXPECT_EQ(out.capacity(), capacity);
  }
}

TEST(SerializeResponseHead, StatusLineFieldsAndFraming) {
  Response resp;
  resp.status = 404;
  resp.headers.add("Content-Type", "text/plain");
  resp.headers.add("Content-Length", "99"); // ignored: framing comes from the options
  resp.headers.add("Date", "Sun, 06 Nov 1994 08:49:37 GMT");
  ResponseHeadOptions o;
  o.framing = BodyFraming::kContentLength;
  o.content_length = 19;
  std::string out;
  serialize_response_head(resp, o, out);
  EXPECT_EQ(out, "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
                 "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 19\r\n\r\n");

  resp.reason = "Nope";
  resp.headers.remove("Date");
  resp.headers.add("Connection", "keep-alive");
  o.framing = BodyFraming::kChunked;
  o.connection_close = true;
  o.add_date = false;
  out.clear();
  serialize_response_head(resp, o, out);
  EXPECT_EQ(out, "HTTP/1.1 404 Nope\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
                 "Connection: close\r\n\r\n");
}

TEST(SerializeResponseHead, UntilCloseAndHttp10) {
  Response resp;
  resp.status = 200;
  ResponseHeadOptions o;
  o.add_date = false;
  o.framing = BodyFraming::kUntilClose;
  std::string out;
  serialize_response_head(resp, o, out);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");

  out.clear();
  o.framing = BodyFraming::kContentLength;
  o.content_length = 0;
  o.version = Version::kHttp10;
  serialize_response_head(resp, o, out);
  EXPECT_EQ(out, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
}

TEST(SerializeResponseHead, UpgradeKeepsItsConnectionField) {
  Response resp;
  resp.status = 101;
  resp.headers.add("Connection", "Upgrade");
  resp.headers.add("Upgrade", "websocket");
  resp.headers.add("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  ResponseHeadOptions o;
  o.add_date = false;
  std::string out;
  serialize_response_head(resp, o, out);
  EXPECT_EQ(out, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
}

TEST(SerializeResponseHead, ParsesBack) {
  Response resp;
  resp.status = 200;
  resp.reason = "OK\r\nX-Evil: 1"; // repaired, never a second line
  resp.headers.add("Set-Cookie", "a=1");
  resp.headers.add("Set-Cookie", "b=2");
  ResponseHeadOptions o;
  o.framing = BodyFraming::kContentLength;
  o.content_length = 2;
  std::string out;
  EXPECT_EQ(serialize_response_head(resp, o, out), 1u);
  Response back;
  size_t hint = 0;
  ASSERT_TRUE(parse_response_head(out, ParseLimits{}, false, back, hint).complete());
  EXPECT_EQ(back.content_length, 2);
  EXPECT_EQ(back.headers.count("Set-Cookie"), 2u);
  EXPECT_FALSE(back.headers.has("X-Evil"));
  EXPECT_TRUE(back.headers.has("Date"));
}

TEST(HttpDate, Format) {
  std::string_view d = http_date();
  ASSERT_EQ(d.size(), 29u);
  EXPECT_EQ(d.substr(25), " GMT");
  EXPECT_EQ(d[3], ',');
  EXPECT_EQ(http_date().data(), d.data()); // one cached buffer per thread
}

} // namespace
} // namespace turnpike::http
