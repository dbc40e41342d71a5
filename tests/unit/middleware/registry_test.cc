#include <gtest/gtest.h>

#include "harness.h"
#include "middleware/middleware.h"

namespace turnpike::middleware {
namespace {

TEST(Registry, ListsTraefikTypeKeys) {
  for (std::string_view type : {"addPrefix",
                                "apiKey",
                                "basicAuth",
                                "buffering",
                                "chain",
                                "circuitBreaker",
                                "compress",
                                "contentType",
                                "digestAuth",
                                "distributedRateLimit",
                                "encodedCharacters",
                                "errors",
                                "forwardAuth",
                                "grpcWeb",
                                "headers",
                                "inFlightReq",
                                "ipAllowList",
                                "ipWhiteList",
                                "jwt",
                                "oAuthIntrospection",
                                "passTLSClientCert",
                                "rateLimit",
                                "redirectRegex",
                                "redirectScheme",
                                "replacePath",
                                "replacePathRegex",
                                "requestHeaderModifier",
                                "responseHeaderModifier",
                                "retry",
                                "stripPrefix",
                                "stripPrefixRegex"}) {
    const Registration* r = find(type);
    ASSERT_NE(r, nullptr) << type;
    EXPECT_EQ(r->type, type);
    EXPECT_NE(r->factory, nullptr);
  }
  EXPECT_EQ(registry().size(), 31u);
}

TEST(Registry, LookupIsCaseInsensitive) {
  ASSERT_NE(find("stripprefix"), nullptr);
  EXPECT_EQ(find("STRIPPREFIX")->type, "stripPrefix");
  EXPECT_EQ(find("IpAllowList")->type, "ipAllowList");
  EXPECT_EQ(find("nope"), nullptr);
  EXPECT_EQ(find(""), nullptr);
}

TEST(Registry, IpWhiteListIsAnAliasOfIpAllowList) {
  EXPECT_EQ(find("ipWhiteList")->factory, find("ipAllowList")->factory);
}

TEST(Registry, UnknownOptionIsAnErrorNamingItsPath) {
  auto b = testing::build("addPrefix", "prefix: /api\nprefx: /typo\n");
  EXPECT_FALSE(b);
  EXPECT_NE(b.error_text().find("http.middlewares.test@file.addPrefix.prefx: unknown key"),
            std::string::npos)
      << b.error_text();
  EXPECT_EQ(b.errors.list().size(), 1u) << b.error_text();  // reported once
}

TEST(Registry, OptionNamesAreCaseInsensitive) {
  auto b = testing::build("addPrefix", "PREFIX: /api\n");
  ASSERT_TRUE(b) << b.error_text();
}

}  // namespace
}  // namespace turnpike::middleware
