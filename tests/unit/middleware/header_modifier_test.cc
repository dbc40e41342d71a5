#include <gtest/gtest.h>

#include "harness.h"

namespace turnpike::middleware {
namespace {

using testing::build;
using testing::FakeBuildContext;
using testing::make_request;
using testing::serve;

FakeBuildContext gateway_context() {
  FakeBuildContext ctx;
  ctx.provider_name = "kubernetesgateway";
  return ctx;
}

TEST(HeaderModifier, RequestSetAddRemoveInOrder) {
  auto ctx = gateway_context();
  auto b = build("requestHeaderModifier",
                 "set: {X-Set: new, X-Gone: set-then-removed}\n"
                 "add: {X-Add: gw, X-Fresh: one}\n"
                 "remove: [X-Drop, X-Gone]\n",
                 &ctx);
  ASSERT_TRUE(b) << b.error_text();
  auto req = make_request("GET", "/");
  req.headers.add("X-Set", "old");
  req.headers.add("X-Set", "older");
  req.headers.add("X-Add", "client");
  req.headers.add("X-Drop", "secret");
  serve(*b.handler, req);
  const auto& seen = *b.terminal->seen;
  EXPECT_EQ(seen.headers.values("X-Set"), std::vector<std::string_view>{"new"});
  EXPECT_EQ(seen.headers.values("X-Add"), (std::vector<std::string_view>{"client", "gw"}));
  EXPECT_EQ(seen.headers.values("X-Fresh"), std::vector<std::string_view>{"one"});
  EXPECT_FALSE(seen.headers.has("X-Drop"));
  EXPECT_FALSE(seen.headers.has("X-Gone"));
}

TEST(HeaderModifier, HostIsNotAHeaderField) {
  auto ctx = gateway_context();
  auto b = build("requestHeaderModifier", "set: {Host: other.example}\n", &ctx);
  ASSERT_TRUE(b) << b.error_text();
  auto req = make_request("GET", "/", "example.com");
  serve(*b.handler, req);
  EXPECT_EQ(b.terminal->seen->authority, "example.com");
  EXPECT_EQ(b.terminal->seen->headers.get("Host").value_or(""), "example.com");
}

TEST(HeaderModifier, ResponseHeadersEdited) {
  auto ctx = gateway_context();
  auto b = build("responseHeaderModifier",
                 "set: {Server: gateway}\nadd: {Vary: Origin}\nremove: [X-Internal]\n", &ctx);
  ASSERT_TRUE(b) << b.error_text();
  b.terminal->headers.add("Server", "upstream/1.0");
  b.terminal->headers.add("Vary", "Accept-Encoding");
  b.terminal->headers.add("X-Internal", "1");
  auto req = make_request("GET", "/");
  auto out = serve(*b.handler, req);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.headers.values("Server"), std::vector<std::string_view>{"gateway"});
  EXPECT_EQ(out.headers.values("Vary"),
            (std::vector<std::string_view>{"Accept-Encoding", "Origin"}));
  EXPECT_FALSE(out.headers.has("X-Internal"));
}

TEST(HeaderModifier, OnlyTheGatewayProviderMayConfigureIt) {
  auto b = build("requestHeaderModifier", "set: {X-A: b}\n"); // provider "file"
  EXPECT_FALSE(b);
  EXPECT_NE(b.error_text().find("internal to the kubernetesGateway provider"), std::string::npos)
      << b.error_text();
}

TEST(HeaderModifier, BadNamesAndValuesAreErrors) {
  auto ctx = gateway_context();
  auto b = build("requestHeaderModifier", "set: {'Bad Name': x}\n", &ctx);
  EXPECT_NE(b.error_text().find("set.Bad Name: invalid header name"), std::string::npos)
      << b.error_text();
  b = build("responseHeaderModifier", "remove: [ok, 'no good']\n", &ctx);
  EXPECT_NE(b.error_text().find("remove[1]: invalid header name"), std::string::npos)
      << b.error_text();
  b = build("responseHeaderModifier", "sets: {X-A: b}\n", &ctx);
  EXPECT_NE(b.error_text().find("unknown"), std::string::npos) << b.error_text();
}

} // namespace
} // namespace turnpike::middleware
