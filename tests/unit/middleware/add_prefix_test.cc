#include <gtest/gtest.h>

#include "harness.h"

namespace turnpike::middleware {
namespace {

using testing::build;
using testing::make_request;
using testing::serve;

TEST(AddPrefix, PrependsPrefix) {
  struct Case {
    std::string prefix, path, expected;
  };
  const Case cases[] = {
      {"/api", "/", "/api/"},
      {"/api", "/b", "/api/b"},
      {"/api", "/b?x=1", "/api/b"},
      {"api", "/b", "/api/b"},         // leading slash ensured
      {"/a b", "/c", "/a%20b/c"},      // encoded like Go sends it
      {"/v1/", "/x", "/v1//x"},        // used as written, like Traefik
  };
  for (const auto& c : cases) {
    auto seen =
        testing::forwarded("addPrefix", "prefix: '" + c.prefix + "'", make_request("GET", c.path));
    ASSERT_TRUE(seen);
    EXPECT_EQ(seen->path, c.expected) << c.prefix << " + " << c.path;
  }
}

TEST(AddPrefix, KeepsQuery) {
  auto seen = testing::forwarded("addPrefix", "prefix: /api", make_request("GET", "/b?x=1"));
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->target(), "/api/b?x=1");
}

TEST(AddPrefix, DecodeErrors) {
  for (std::string yaml : {"{}", "prefix: ''", "prefix: /a/../b", "prefix: '/%zz'"})
    testing::expect_decode_error("addPrefix", yaml, "http.middlewares.test@file.addPrefix.prefix: ");
}

}  // namespace
}  // namespace turnpike::middleware
