#include <gtest/gtest.h>

#include "harness.h"
#include "middleware/content_type.h"

namespace turnpike::middleware {
namespace {

using testing::make_request;
using testing::serve;

// An upstream that answers `status` with the given headers and body pieces, setting no
// Content-Type of its own (send_response would).
class RawUpstream final : public http::Handler {
 public:
  http::Task<void> handle(http::Exchange& ex) const override {
    http::Response head;
    head.status = status;
    head.headers = headers;
    head.no_body = no_body;
    auto err = co_await ex.writer->write_head(head);
    if (err) co_return;
    for (const auto& piece : pieces) {
      err = co_await ex.writer->write_body(piece);
      if (err) co_return;
    }
    co_await ex.writer->finish();
  }
  int status = 200;
  bool no_body = false;
  http::HeaderMap headers;
  std::vector<std::string> pieces;
};

struct SniffCase {
  std::string desc;
  std::string config;
  int status;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::string> pieces;
  std::optional<std::string> expected;  // Content-Type the client sees; nullopt = none
};

TEST(ContentType, Detection) {
  const std::vector<SniffCase> cases = {
      {"html", "{}", 200, {}, {"<!DOCTYPE html><html></html>"}, "text/html; charset=utf-8"},
      {"html after whitespace, any case", "{}", 200, {}, {"  \n<HtMl>x"},
       "text/html; charset=utf-8"},
      {"tag needs a terminator", "{}", 200, {}, {"<htmlx"}, "text/plain; charset=utf-8"},
      {"plain text", "{}", 200, {}, {"hello world"}, "text/plain; charset=utf-8"},
      {"xml", "{}", 200, {}, {"<?xml version='1.0'?><a/>"}, "text/xml; charset=utf-8"},
      {"json is text", "{}", 200, {}, {"{\"a\":1}"}, "text/plain; charset=utf-8"},
      {"png", "{}", 200, {}, {std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16)}, "image/png"},
      {"gzip", "{}", 200, {}, {std::string("\x1f\x8b\x08\0\0\0", 6)}, "application/x-gzip"},
      {"pdf", "{}", 200, {}, {"%PDF-1.7\n"}, "application/pdf"},
      {"binary", "{}", 200, {}, {std::string("\x01\x02\x03", 3)}, "application/octet-stream"},
      {"first piece decides", "{}", 200, {}, {"plain", "<html>"}, "text/plain; charset=utf-8"},
      {"upstream type kept", "{}", 200, {{"Content-Type", "application/json"}}, {"<html>"},
       "application/json"},
      {"encoded body not sniffed", "{}", 200, {{"Content-Encoding", "gzip"}}, {"<html> "},
       std::nullopt},
      {"no body, no type", "{}", 200, {}, {}, std::nullopt},
      {"204 not sniffed", "{}", 204, {}, {}, std::nullopt},
      {"autoDetect true", "autoDetect: true", 200, {}, {"<html>"}, "text/html; charset=utf-8"},
      {"autoDetect false leaves it alone", "autoDetect: false", 200, {}, {"<html>"},
       std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.desc);
    auto node = config::parse_yaml(c.config, "dynamic.yml");
    ASSERT_TRUE(node);
    config::Errors errors;
    config::Decoder dec(*node, "http.middlewares.t@file.contentType", errors);
    testing::FakeBuildContext ctx;
    Wrap wrap = find("contentType")->factory(dec, ctx);
    ASSERT_TRUE(wrap) << errors.joined();
    auto upstream = std::make_shared<RawUpstream>();
    upstream->status = c.status;
    for (const auto& [k, v] : c.headers) upstream->headers.add(k, v);
    upstream->pieces = c.pieces;
    auto handler = wrap(upstream);
    auto req = make_request("GET", "/");
    auto out = serve(*handler, req);
    EXPECT_EQ(out.status, c.status);
    EXPECT_TRUE(out.finished);
    std::string body;
    for (const auto& p : c.pieces) body += p;
    EXPECT_EQ(out.body, body);
    if (c.expected) {
      EXPECT_EQ(out.header("Content-Type"), *c.expected);
    } else {
      EXPECT_FALSE(out.headers.has("Content-Type")) << out.header("Content-Type");
    }
  }
}

TEST(ContentType, Sniffs512Bytes) {
  // A binary byte past the first 512 bytes does not count (Go's sniffLen).
  std::string data(512, 'a');
  data.push_back('\x01');
  EXPECT_EQ(detect_content_type(data), "text/plain; charset=utf-8");
  EXPECT_EQ(detect_content_type(std::string("RIFF\0\0\0\0WAVEfmt ", 16)), "audio/wave");
  EXPECT_EQ(detect_content_type(std::string("\0\0\0\x18" "ftypmp42\0\0\0\0mp42isom", 24)),
            "video/mp4");
}

TEST(ContentType, Errors) {
  testing::expect_decode_error("contentType", "autoDetect: maybe", "contentType.autoDetect");
  testing::expect_decode_error("contentType", "detect: true", "contentType.detect");
}

}  // namespace
}  // namespace turnpike::middleware
