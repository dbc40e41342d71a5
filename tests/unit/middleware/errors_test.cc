#include <gtest/gtest.h>

#include "harness.h"
#include "middleware/errors.h"

namespace turnpike::middleware {
namespace {

using testing::make_request;

// The error-page service: records the request it got and answers 200 with a page.
class Pages final : public http::Handler {
public:
  http::Task<void> handle(http::Exchange& ex) const override {
    ++calls;
    seen = ex.request;
    http::HeaderMap h;
    h.set("Content-Type", "text/html");
    h.set("X-Page", "yes");
    co_await http::send_response(ex, 200, "<h1>page " + ex.request.target() + "</h1>", &h);
  }
  mutable int calls = 0;
  mutable http::Request seen;
};

class Context final : public BuildContext {
public:
  Result<Wrap> middleware(std::string_view) override { return make_error("none"); }
  std::string_view provider() const override { return "file"; }
  Result<HandlerPtr> service_handler(std::string_view name) override {
    if (name != "pages")
      return make_error("the service \"" + std::string(name) + "\" does not exist");
    return HandlerPtr(pages);
  }
  std::shared_ptr<Pages> pages = std::make_shared<Pages>();
};

struct Case {
  Context ctx;
  testing::Built built;
};

std::unique_ptr<Case> make(std::string_view yaml) {
  auto c = std::make_unique<Case>();
  c->built = testing::build("errors", yaml, &c->ctx);
  EXPECT_TRUE(c->built) << c->built.error_text();
  return c;
}

TEST(Errors, ReplacesCaughtStatusesWithThePage) {
  auto c = make("status: [\"500-599\", \"404\"]\nservice: pages\nquery: \"/{status}.html\"\n");
  c->built.terminal->status = 503;
  c->built.terminal->headers.set("X-Upstream", "1");
  auto req = make_request("POST", "/api/x?y=1");
  req.headers.add("X-Client", "c");
  auto out = testing::serve(*c->built.handler, req);
  EXPECT_EQ(out.status, 503);
  EXPECT_EQ(out.body, "<h1>page /503.html</h1>");
  EXPECT_EQ(out.header("X-Page"), "yes");
  EXPECT_EQ(out.header("X-Upstream"), ""); // the upstream's response is gone entirely
  ASSERT_EQ(c->ctx.pages->calls, 1);
  EXPECT_EQ(c->ctx.pages->seen.method, "GET");
  EXPECT_EQ(c->ctx.pages->seen.headers.get("X-Client").value_or(""), "c");
  EXPECT_EQ(c->ctx.pages->seen.host, "example.com");
}

TEST(Errors, OtherStatusesPassThrough) {
  auto c = make("status: [\"500-599\"]\nservice: pages\n");
  c->built.terminal->status = 404;
  auto req = make_request("GET", "/");
  auto out = testing::serve(*c->built.handler, req);
  EXPECT_EQ(out.status, 404);
  EXPECT_EQ(out.body, "upstream");
  EXPECT_EQ(c->ctx.pages->calls, 0);
}

TEST(Errors, StatusRewritesAndQueryVariables) {
  auto c = make(
      "status: [\"400-499\"]\nservice: pages\nstatusRewrites: {\"418\": 404, \"420-429\": 400}\n"
      "query: \"err?s={status}&o={originalStatus}&u={url}\"\n");
  c->built.terminal->status = 418;
  auto req = make_request("GET", "/a b/c?d=e&f");
  auto out = testing::serve(*c->built.handler, req);
  EXPECT_EQ(out.status, 404);
  EXPECT_EQ(c->ctx.pages->seen.path, "/err");
  EXPECT_EQ(c->ctx.pages->seen.query, "s=404&o=418&u=%2Fa+b%2Fc%3Fd%3De%26f");
  c->built.terminal->status = 425;
  out = testing::serve(*c->built.handler, req);
  EXPECT_EQ(out.status, 400);
  c->built.terminal->status = 401;
  out = testing::serve(*c->built.handler, req);
  EXPECT_EQ(out.status, 401);
}

TEST(Errors, DecodeErrors) {
  Context ctx;
  auto b = testing::build("errors", "status: [\"500\"]\nservice: nope\n", &ctx);
  EXPECT_FALSE(b);
  EXPECT_NE(b.error_text().find("errors.service: the service \"nope\" does not exist"),
            std::string::npos)
      << b.error_text();
  b = testing::build("errors", "service: pages\n", &ctx);
  EXPECT_NE(b.error_text().find("errors.status: is required"), std::string::npos);
  b = testing::build("errors", "status: [\"5xx\"]\nservice: pages\n", &ctx);
  EXPECT_NE(b.error_text().find("errors.status[0]"), std::string::npos);
  b = testing::build("errors", "status: [\"500\"]\nservice: pages\nstatusRewrites: {\"500\": 9}\n",
                     &ctx);
  EXPECT_NE(b.error_text().find("statusRewrites.500"), std::string::npos);
  b = testing::build("errors", "status: [\"500\"]\n", &ctx);
  EXPECT_NE(b.error_text().find("errors.service: is required"), std::string::npos);
}

} // namespace
} // namespace turnpike::middleware
