#include <gtest/gtest.h>

#include "harness.h"

namespace turnpike::middleware {
namespace {

using testing::build;
using testing::make_request;
using testing::serve;

// A wrap that appends `tag` to X-Trace on the way in.
Wrap tagging(std::string tag) {
  class Tag final : public http::Handler {
   public:
    Tag(std::string tag, HandlerPtr next) : tag_(std::move(tag)), next_(std::move(next)) {}
    http::Task<void> handle(http::Exchange& ex) const override {
      ex.request.headers.add("X-Trace", tag_);
      co_await next_->handle(ex);
    }

   private:
    std::string tag_;
    HandlerPtr next_;
  };
  return [tag](HandlerPtr next) -> HandlerPtr { return std::make_shared<Tag>(tag, next); };
}

TEST(Chain, AppliesMiddlewaresInOrder) {
  testing::FakeBuildContext ctx;
  ctx.known["first"] = tagging("1");
  ctx.known["second@file"] = tagging("2");
  auto b = build("chain", "middlewares: [first, second@file, first]", &ctx);
  ASSERT_TRUE(b) << b.error_text();
  auto req = make_request("GET", "/");
  EXPECT_EQ(serve(*b.handler, req).status, 200);
  EXPECT_EQ(b.terminal->seen->headers.values("X-Trace"),
            (std::vector<std::string_view>{"1", "2", "1"}));
}

TEST(Chain, EmptyChainPassesThrough) {
  auto b = build("chain", "middlewares: []");
  ASSERT_TRUE(b) << b.error_text();
  auto req = make_request("GET", "/");
  EXPECT_EQ(serve(*b.handler, req).status, 200);
  EXPECT_EQ(b.terminal->calls, 1);
}

TEST(Chain, RealMiddlewaresCompose) {
  testing::FakeBuildContext ctx;
  // Wraps decoded through the registry, as the builder would resolve them.
  auto wrap_of = [](std::string_view type, std::string_view yaml) {
    auto node = config::parse_yaml(yaml, "t.yml");
    config::Errors errors;
    config::Decoder dec(*node, "x", errors);
    testing::FakeBuildContext none;
    return find(type)->factory(dec, none);
  };
  ctx.known["strip"] = wrap_of("stripPrefix", "prefixes: [/api]");
  ctx.known["add"] = wrap_of("addPrefix", "prefix: /v2");
  auto b = build("chain", "middlewares: [strip, add]", &ctx);
  ASSERT_TRUE(b) << b.error_text();
  auto req = make_request("GET", "/api/users");
  serve(*b.handler, req);
  EXPECT_EQ(b.terminal->seen->path, "/v2/users");
  EXPECT_EQ(b.terminal->seen->headers.get("X-Forwarded-Prefix").value_or(""), "/api");
}

TEST(Chain, UnknownOrCyclicReferenceIsAnError) {
  testing::FakeBuildContext ctx;
  ctx.known["ok"] = tagging("x");
  auto b = build("chain", "middlewares: [ok, missing]", &ctx);
  EXPECT_FALSE(b);
  EXPECT_NE(b.error_text().find("chain.middlewares[1]: middleware \"missing\" does not exist"),
            std::string::npos)
      << b.error_text();
}

}  // namespace
}  // namespace turnpike::middleware
