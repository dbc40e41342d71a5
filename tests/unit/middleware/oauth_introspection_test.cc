#include <gtest/gtest.h>

#include "harness.h"
#include "middleware/local_reply.h"
#include "middleware/oauth_introspection.h"

namespace turnpike::middleware {
namespace {

TEST(OAuthIntrospection, FormEncoding) {
  EXPECT_EQ(query_escape("abc-_.~"), "abc-_.~");
  EXPECT_EQ(query_escape("a b+c/=&"), "a+b%2Bc%2F%3D%26");
}

TEST(OAuthIntrospection, CacheExpiresEntries) {
  IntrospectionCache cache;
  cache.put("k", {true, "{}", 100});
  EXPECT_TRUE(cache.get("k", 99));
  EXPECT_FALSE(cache.get("k", 100));
  EXPECT_FALSE(cache.get("other", 0));
  for (size_t i = 0; i < IntrospectionCache::kMaxEntries + 5; ++i)
    cache.put(std::to_string(i), {true, "{}", INT64_MAX});
  EXPECT_TRUE(cache.get(std::to_string(IntrospectionCache::kMaxEntries + 4), 0));
}

TEST(OAuthIntrospection, DecodeErrors) {
  testing::expect_decode_error("oAuthIntrospection", "claims: \"Equals(`a`, `b`)\"\n",
                               "oAuthIntrospection.clientConfig.url: is required");
  testing::expect_decode_error("oAuthIntrospection", "clientConfig: {url: \"ftp://x\"}\n",
                               "oAuthIntrospection.clientConfig.url");
  testing::expect_decode_error(
      "oAuthIntrospection", "clientConfig: {url: \"http://127.0.0.1:1/i\"}\nclaims: \"Nope()\"\n",
      "oAuthIntrospection.claims");
  EXPECT_TRUE(
      testing::build("oAuthIntrospection", "clientConfig: {url: \"http://127.0.0.1:1/i\"}\n"));
}

} // namespace
} // namespace turnpike::middleware
