#include <gtest/gtest.h>

#include <string>

#include "harness.h"
#include "middleware/buffering.h"

namespace turnpike::middleware {
namespace {

using testing::make_request;

// An upstream that reads the request body, echoes its length, and answers with `pieces` body
// writes (streamed), optionally failing like the proxy for the first `fail_first` attempts.
class Upstream final : public http::Handler {
public:
  http::Task<void> handle(http::Exchange& ex) const override {
    ++calls;
    seen = ex.request;
    body.clear();
    for (;;) {
      auto [err, piece] = co_await ex.body.read();
      if (err || piece.empty())
        break;
      body.append(piece.data(), piece.size());
    }
    if (calls <= fail_first) {
      http::ProxyError err;
      err.kind = http::ProxyError::Kind::kUpstreamConnect;
      co_await http::send_error(ex, err);
      co_return;
    }
    http::Response head;
    head.status = status;
    head.chunked = true;
    head.headers.set("Transfer-Encoding", "chunked");
    co_await ex.writer->write_head(head);
    for (int i = 0; i < pieces; ++i)
      co_await ex.writer->write_body(std::string(piece_size, 'r'));
    co_await ex.writer->finish();
  }
  int status = 200;
  int pieces = 3;
  size_t piece_size = 1000;
  int fail_first = 0;
  mutable int calls = 0;
  mutable std::string body;
  mutable http::Request seen;
};

struct Served {
  testing::RecordingWriter writer;
  bool close = false;
  int status() const { return writer.heads.empty() ? 0 : writer.heads.back().status; }
  std::string header(std::string_view n) const {
    return std::string(writer.heads.back().headers.get(n).value_or(""));
  }
};

HandlerPtr make(std::string_view yaml, std::shared_ptr<Upstream> up) {
  auto node = config::parse_yaml(yaml, "dynamic.yml");
  config::Errors errors;
  config::Decoder dec(*node, "http.middlewares.t@file.buffering", errors);
  testing::FakeBuildContext ctx;
  Wrap wrap = find("buffering")->factory(dec, ctx);
  EXPECT_TRUE(wrap) << errors.joined();
  return wrap(std::move(up));
}

void serve(const http::Handler& h, Served& out, std::string body, bool chunked) {
  auto req = make_request("POST", "/up");
  if (chunked)
    req.chunked = true;
  else
    req.content_length = static_cast<int64_t>(body.size());
  testing::MemoryBody reader(std::move(body));
  auto ex = testing::make_exchange(req, reader, out.writer);
  testing::run(h.handle(ex));
  out.close = ex.close_connection;
}

TEST(Buffering, ChunkedRequestReachesTheUpstreamWithALength) {
  auto up = std::make_shared<Upstream>();
  Served s;
  serve(*make("{}", up), s, std::string(5000, 'q'), true);
  EXPECT_EQ(up->body, std::string(5000, 'q'));
  EXPECT_FALSE(up->seen.chunked);
  EXPECT_EQ(up->seen.content_length, 5000);
  // The streamed response is sent whole, with its length.
  EXPECT_EQ(s.status(), 200);
  EXPECT_EQ(s.writer.heads.size(), 1u);
  EXPECT_EQ(s.header("Content-Length"), "3000");
  EXPECT_EQ(s.header("Transfer-Encoding"), "");
  EXPECT_EQ(s.writer.body, std::string(3000, 'r'));
  EXPECT_TRUE(s.writer.finished);
}

TEST(Buffering, BodiesOverTheMemoryLimitGoThroughATemporaryFile) {
  auto up = std::make_shared<Upstream>();
  up->pieces = 40;
  up->piece_size = 10000;
  Served s;
  std::string body;
  for (int i = 0; i < 300000; ++i)
    body.push_back(static_cast<char>('a' + i % 26));
  serve(*make("memRequestBodyBytes: 1000\nmemResponseBodyBytes: 1000\n", up), s, body, false);
  EXPECT_EQ(up->body, body);
  EXPECT_EQ(s.writer.body.size(), 400000u);
  EXPECT_EQ(s.header("Content-Length"), "400000");
}

TEST(Buffering, RequestOverTheLimitIs413AndNeverReachesTheUpstream) {
  for (bool chunked : {false, true}) {
    auto up = std::make_shared<Upstream>();
    Served s;
    serve(*make("maxRequestBodyBytes: 100\n", up), s, std::string(101, 'x'), chunked);
    EXPECT_EQ(s.status(), 413);
    EXPECT_EQ(up->calls, 0);
    EXPECT_TRUE(s.close);
  }
  auto up = std::make_shared<Upstream>();
  Served s;
  serve(*make("maxRequestBodyBytes: 100\n", up), s, std::string(100, 'x'), false);
  EXPECT_EQ(s.status(), 200);
}

TEST(Buffering, ResponseOverTheLimitBecomes500) {
  auto up = std::make_shared<Upstream>();
  Served s;
  serve(*make("maxResponseBodyBytes: 2999\n", up), s, "", false);
  EXPECT_EQ(s.status(), 500);
  EXPECT_EQ(s.writer.body, "Internal Server Error");
}

TEST(Buffering, RetryExpressionRepeatsTheRequestWithItsBody) {
  auto up = std::make_shared<Upstream>();
  up->fail_first = 2;
  Served s;
  serve(*make("retryExpression: \"IsNetworkError() && Attempts() < 3\"\n", up), s, "again", false);
  EXPECT_EQ(up->calls, 3);
  EXPECT_EQ(up->body, "again");
  EXPECT_EQ(s.status(), 200);
  EXPECT_EQ(s.writer.heads.size(), 1u);

  auto up2 = std::make_shared<Upstream>();
  up2->fail_first = 5;
  Served s2;
  serve(*make("retryExpression: \"IsNetworkError() && Attempts() < 2\"\n", up2), s2, "x", false);
  EXPECT_EQ(up2->calls, 2);
  EXPECT_EQ(s2.status(), 502);

  auto up3 = std::make_shared<Upstream>();
  up3->status = 503;
  Served s3;
  serve(*make("retryExpression: \"ResponseCode() == 503 && Attempts() < 4\"\n", up3), s3, "",
        false);
  EXPECT_EQ(up3->calls, 4);
  EXPECT_EQ(s3.status(), 503);
}

TEST(Buffering, DecodeErrors) {
  testing::expect_decode_error("buffering", "maxRequestBodyBytes: -1\n",
                               "buffering.maxRequestBodyBytes: must not be negative");
  testing::expect_decode_error("buffering", "retryExpression: \"Attempts() <\"\n",
                               "buffering.retryExpression");
  testing::expect_decode_error("buffering", "retryExpression: \"Bogus()\"\n", "unknown function");
}

} // namespace
} // namespace turnpike::middleware
