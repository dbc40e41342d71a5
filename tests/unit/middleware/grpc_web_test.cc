#include <gtest/gtest.h>

#include "harness.h"
#include "middleware/grpc_web.h"

namespace turnpike::middleware {
namespace {

using testing::make_request;

// A gRPC "server": records the request body and content type, answers one message and trailers.
class GrpcUpstream final : public http::Handler {
public:
  http::Task<void> handle(http::Exchange& ex) const override {
    type = std::string(ex.request.headers.get("Content-Type").value_or(""));
    body.clear();
    for (;;) {
      auto [err, piece] = co_await ex.body.read();
      if (err || piece.empty())
        break;
      body.append(piece.data(), piece.size());
    }
    http::Response head;
    head.headers.set("Content-Type", "application/grpc+proto");
    head.headers.set("X-Meta", "m");
    co_await ex.writer->write_head(head);
    co_await ex.writer->write_body(std::string("\0\0\0\0\2ok", 7));
    http::HeaderMap trailers;
    trailers.set("Grpc-Status", "0");
    trailers.set("Grpc-Message", "fine");
    co_await ex.writer->finish_with_trailers(trailers);
  }
  mutable std::string type, body;
};

HandlerPtr make(std::shared_ptr<GrpcUpstream> up,
                std::string_view yaml = "allowOrigins: [\"https://app\"]\n") {
  auto node = config::parse_yaml(yaml, "dynamic.yml");
  config::Errors errors;
  config::Decoder dec(*node, "http.middlewares.t@file.grpcWeb", errors);
  testing::FakeBuildContext ctx;
  return find("grpcWeb")->factory(dec, ctx)(up);
}

struct Result {
  testing::RecordingWriter w;
  std::string h(std::string_view n) const {
    return std::string(w.heads.back().headers.get(n).value_or(""));
  }
};

void post(const http::Handler& h, std::string_view type, std::string body, Result& out,
          std::string_view origin = "") {
  auto req = make_request("POST", "/pkg.Svc/Call");
  req.headers.add("Content-Type", type);
  if (!origin.empty())
    req.headers.add("Origin", origin);
  req.content_length = static_cast<int64_t>(body.size());
  testing::MemoryBody reader(std::move(body));
  auto ex = testing::make_exchange(req, reader, out.w);
  testing::run(h.handle(ex));
}

TEST(GrpcWeb, TrailerFrame) {
  http::HeaderMap t;
  t.set("Grpc-Status", "0");
  EXPECT_EQ(grpc_web_trailer_frame(t), std::string("\x80\0\0\0\x0fgrpc-status:0\r\n", 20));
}

TEST(GrpcWeb, BinaryRequestAndResponse) {
  auto up = std::make_shared<GrpcUpstream>();
  auto h = make(up);
  Result r;
  const std::string msg("\0\0\0\0\2hi", 7);
  post(*h, "application/grpc-web+proto", msg, r, "https://app");
  EXPECT_EQ(up->type, "application/grpc+proto");
  EXPECT_EQ(up->body, msg);
  EXPECT_EQ(r.h("Content-Type"), "application/grpc-web+proto");
  EXPECT_EQ(r.h("Access-Control-Allow-Origin"), "https://app");
  EXPECT_NE(r.h("Access-Control-Expose-Headers").find("grpc-status"), std::string::npos);
  EXPECT_NE(r.h("Access-Control-Expose-Headers").find("x-meta"), std::string::npos);
  const std::string trailer = "grpc-status:0\r\ngrpc-message:fine\r\n";
  EXPECT_EQ(r.w.body, std::string("\0\0\0\0\2ok", 7) + std::string("\x80\0\0\0", 4) +
                          static_cast<char>(trailer.size()) + trailer);
}

TEST(GrpcWeb, TextRequestAndResponse) {
  auto up = std::make_shared<GrpcUpstream>();
  auto h = make(up);
  Result r;
  // base64("\0\0\0\0\2hi") = "AAAAAAJoaQ==", sent as two padded chunks to check chunk joins.
  post(*h, "application/grpc-web-text",
       "AAAAAAJo"
       "aQ==",
       r);
  EXPECT_EQ(up->type, "application/grpc");
  EXPECT_EQ(up->body, std::string("\0\0\0\0\2hi", 7));
  EXPECT_EQ(r.h("Content-Type"), "application/grpc-web-text+proto");
  EXPECT_EQ(r.h("Access-Control-Allow-Origin"), ""); // no Origin sent
  EXPECT_EQ(r.w.body.substr(0, 12), "AAAAAAJvaw==");
}

TEST(GrpcWeb, PreflightAndPassThrough) {
  auto up = std::make_shared<GrpcUpstream>();
  auto h = make(up);
  auto pre = make_request("OPTIONS", "/pkg.Svc/Call");
  pre.headers.add("Origin", "https://app");
  pre.headers.add("Access-Control-Request-Method", "POST");
  pre.headers.add("Access-Control-Request-Headers", "content-type,x-grpc-web");
  auto out = testing::serve(*h, pre);
  EXPECT_EQ(out.status, 204);
  EXPECT_EQ(out.header("Access-Control-Allow-Origin"), "https://app");
  auto evil = make_request("OPTIONS", "/pkg.Svc/Call");
  evil.headers.add("Origin", "https://evil");
  evil.headers.add("Access-Control-Request-Headers", "x-grpc-web");
  EXPECT_EQ(testing::serve(*h, evil).status, 403);
  auto b = testing::build("grpcWeb", "allowOrigins: [\"*\"]\n");
  auto plain = make_request("GET", "/x");
  EXPECT_EQ(testing::serve(*b.handler, plain).status, 200);
  EXPECT_EQ(b.terminal->calls, 1);
}

} // namespace
} // namespace turnpike::middleware
