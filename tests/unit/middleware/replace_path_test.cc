#include <gtest/gtest.h>

#include "harness.h"

namespace turnpike::middleware {
namespace {

using testing::build;
using testing::make_request;
using testing::serve;

TEST(ReplacePath, ReplacesPathAndRecordsOriginal) {
  struct Case {
    std::string path, config_path, request, expected_path, expected_header;
  };
  const Case cases[] = {
      {"simple", "/foo", "/path", "/foo", "/path"},
      {"keeps query", "/foo", "/path?a=1", "/foo", "/path"},
      {"encoded replacement", "/foo%2Fbar", "/x", "/foo%2Fbar", "/x"},
      {"space encoded", "/foo bar", "/x", "/foo%20bar", "/x"},
      {"leading slash ensured", "foo", "/x", "/foo", "/x"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path);
    auto req = make_request("GET", c.request);
    auto seen = testing::forwarded("replacePath", "path: '" + c.config_path + "'", req);
    ASSERT_TRUE(seen);
    EXPECT_EQ(seen->path, c.expected_path);
    EXPECT_EQ(seen->headers.get("X-Replaced-Path").value_or(""), c.expected_header);
    EXPECT_EQ(seen->query, req.query);
  }
}

TEST(ReplacePath, DecodeErrors) {
  testing::expect_decode_error("replacePath", "{}", "replacePath.path: is required");
  testing::expect_decode_error("replacePath", "path: '/a/%zz'",
                               "replacePath.path: invalid path: invalid percent-encoding");
  testing::expect_decode_error("replacePath", "path: /a/../admin",
                               "replacePath.path: invalid path: a \".\" or \"..\" segment");
}

// Cases from Traefik's replace_path_regex_test.go, on normalised paths.
TEST(ReplacePathRegex, TraefikCases) {
  struct Case {
    std::string desc, path, regex, replacement;
    int status;
    std::string expected_path, expected_header;
  };
  const Case cases[] = {
      {"simple regex", "/whoami/and/whoami", "/whoami", "/who-am-i/$1", 200,
       "/who-am-i//and/who-am-i/", "/whoami/and/whoami"},
      {"simple replace (no regex)", "/whoami/and/whoami", "/whoami", "/who-am-i", 200,
       "/who-am-i/and/who-am-i", "/whoami/and/whoami"},
      {"empty replacement keeps a slash", "/whoami/and/whoami", "/whoami/and/whoami", "/", 200,
       "/", "/whoami/and/whoami"},
      {"no match", "/whoami/and/whoami", "/whoami/and/whoami/x", "/bar", 200,
       "/whoami/and/whoami", ""},
      {"multiple replacement", "/downloads/src/source.go", "^(?i)/downloads/([^/]+)/([^/]+)$",
       "/downloads/$1-$2", 200, "/downloads/src-source.go", "/downloads/src/source.go"},
      {"invalid percent-encoded result", "/foo", "/foo", "/%zz", 500, "", ""},
      {"dot segment in result", "/foo/admin", "^/foo/(.*)", "/x/../$1", 400, "", ""},
      {"named group", "/v1/items", "^/v(?P<ver>[0-9]+)/(.*)", "/api/${ver}/$2", 200,
       "/api/1/items", "/v1/items"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.desc);
    auto seen =
        testing::forwarded("replacePathRegex",
                           "regex: '" + c.regex + "'\nreplacement: '" + c.replacement + "'",
                           make_request("GET", c.path), c.status);
    ASSERT_EQ(seen.has_value(), c.status == 200);
    if (!seen) continue;
    EXPECT_EQ(seen->path, c.expected_path);
    EXPECT_EQ(seen->headers.get("X-Replaced-Path").value_or(""), c.expected_header);
  }
}

TEST(ReplacePathRegex, DecodeErrors) {
  for (const auto& [yaml, expected] : std::initializer_list<std::pair<std::string, std::string>>{
      {"replacement: /x", "replacePathRegex.regex: is required"},
      {"regex: /x", "replacePathRegex.replacement: is required"},
      {"regex: '/(x'\nreplacement: /y", "replacePathRegex.regex: invalid regular expression"},
      })
    testing::expect_decode_error("replacePathRegex", yaml, expected);
}

}  // namespace
}  // namespace turnpike::middleware
