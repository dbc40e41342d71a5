#include <gtest/gtest.h>

#include "harness.h"

namespace turnpike::middleware {
namespace {

using testing::build;
using testing::make_request;
using testing::serve;

struct StripCase {
  std::string desc;
  std::string config;
  std::string path;
  int status;                  // 200: forwarded
  std::string expected_path;   // what the upstream sees
  std::string expected_prefix; // X-Forwarded-Prefix ("" = absent)
};

void run_cases(std::string_view type, const std::vector<StripCase>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.desc);
    auto seen = testing::forwarded(type, c.config, make_request("GET", c.path), c.status);
    ASSERT_EQ(seen.has_value(), c.status == 200);
    if (!seen) continue;
    EXPECT_EQ(seen->path, c.expected_path);
    EXPECT_EQ(seen->headers.get("X-Forwarded-Prefix").value_or(""), c.expected_prefix);
  }
}

// Traefik's strip_prefix_test.go cases, with "" paths forwarded as "/".
TEST(StripPrefix, TraefikCases) {
  run_cases("stripPrefix", {
      {"no prefixes configured", "prefixes: []", "/noprefixes", 200, "/noprefixes", ""},
      {"wildcard", "prefixes: [/]", "/", 200, "/", "/"},
      {"prefix and path matching", "prefixes: [/stat]", "/stat", 200, "/", "/stat"},
      {"path prefix on exactly matching path", "prefixes: [/stat/]", "/stat/", 200, "/",
       "/stat/"},
      {"path prefix on matching longer path", "prefixes: [/stat/]", "/stat/us", 200, "/us",
       "/stat/"},
      {"path prefix on mismatching path", "prefixes: [/stat/]", "/status", 200, "/status", ""},
      {"general prefix on matching path", "prefixes: [/stat]", "/stat/", 200, "/", "/stat"},
      {"earlier prefix matching", "prefixes: [/stat, /stat/us]", "/stat/us", 200, "/us",
       "/stat"},
      {"later prefix matching", "prefixes: [/mismatch, /stat]", "/stat", 200, "/", "/stat"},
      // A plain string prefix, as in Traefik: it is not bound to segment boundaries.
      {"prefix matching within slash boundaries", "prefixes: [/stat]", "/status", 200, "/us",
       "/stat"},
      {"foo strips foo", "prefixes: [/foo]", "/foo/bar", 200, "/bar", "/foo"},
      {"encoded reserved characters kept", "prefixes: [/stat]", "/stat/a%2Fb", 200, "/a%2Fb",
       "/stat"},
      {"query kept", "prefixes: [/api]", "/api/x?q=1", 200, "/x", "/api"},
      {"dot segment created by stripping", "prefixes: [/api]", "/api./foo", 400, "", ""},
      {"double dot segment created by stripping", "prefixes: [/api]", "/api../foo", 400, "", ""},
      {"forceSlash accepted", "prefixes: [/api]\nforceSlash: true", "/api", 200, "/", "/api"},
      {"prefix normalised like paths", "prefixes: ['/%7euser']", "/~user/x", 200, "/x",
       "/~user"},
  });
}

TEST(StripPrefix, QueryStaysAndOnlyPathChanges) {
  auto b = build("stripPrefix", "prefixes: [/api]");
  ASSERT_TRUE(b);
  auto req = make_request("GET", "/api/items?limit=5");
  serve(*b.handler, req);
  ASSERT_TRUE(b.terminal->seen);
  EXPECT_EQ(b.terminal->seen->target(), "/items?limit=5");
}

TEST(StripPrefix, DecodeErrors) {
  testing::expect_decode_error("stripPrefix", "prefixes: [/ok, '/a%zz']",
                               "stripPrefix.prefixes[1]: invalid path prefix");
  testing::expect_decode_error("stripPrefix", "prefixes: {a: b}", "stripPrefix.prefixes");
}

TEST(StripPrefixRegex, TraefikCases) {
  const std::string cfg = "regex: ['/a/api/', '/b/([a-z0-9]+)/', '/c/[a-z0-9]+/[0-9]+/']";
  run_cases("stripPrefixRegex", {
      {"no match", cfg, "/b/test", 200, "/b/test", ""},
      {"match on /a", cfg, "/a/test", 200, "/a/test", ""},
      {"api prefix", cfg, "/a/api/test", 200, "/test", "/a/api/"},
      {"group prefix", cfg, "/b/api/", 200, "/", "/b/api/"},
      {"group prefix, longer path", cfg, "/b/api/test1", 200, "/test1", "/b/api/"},
      {"group prefix with numbers", cfg, "/b/api2/test2", 200, "/test2", "/b/api2/"},
      {"c prefix", cfg, "/c/api/123/", 200, "/", "/c/api/123/"},
      {"c prefix, longer", cfg, "/c/api/123/test3", 200, "/test3", "/c/api/123/"},
      {"c prefix, no digits", cfg, "/c/api/abc/test4", 200, "/c/api/abc/test4", ""},
      {"match not at the start is skipped", "regex: ['/api/']", "/x/api/y", 200, "/x/api/y", ""},
      {"empty match skipped", "regex: ['x*']", "/y", 200, "/y", ""},
      {"dot segment created by stripping", "regex: ['^/[a-z]+']", "/api./x", 400, "", ""},
  });
}

TEST(StripPrefixRegex, DecodeErrorNamesTheRegex) {
  testing::expect_decode_error("stripPrefixRegex", "regex: ['/ok/', '/(broken']",
                               "stripPrefixRegex.regex[1]: invalid regular expression");
}

}  // namespace
}  // namespace turnpike::middleware
