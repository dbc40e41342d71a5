#include "http/path.h"

#include <gtest/gtest.h>

#include <string>

#include "http/parser.h"

namespace turnpike::http {
namespace {

// Returns the normalised path, or "400" when rejected.
std::string norm(std::string_view raw, const PathOptions& o = {}) {
  std::string out;
  std::string_view why = normalize_path(raw, o, out);
  return why.empty() ? out : "400";
}

// security.md section 3, path case table: 13 rows, our secure defaults.
TEST(NormalizePath, SecurityTable) {
  struct Row {
    const char* raw;
    const char* expected;
  } rows[] = {
      {"/a/./b/../c", "/a/c"},
      {"/a/%2e%2e/admin", "/admin"},
      {"/public/../admin", "/admin"},
      {"/../etc", "400"},
      {"/admin%2Fsecret", "400"},
      {"/admin%2fsecret", "400"},
      {"/a%5c..%5cadmin", "400"},
      {"/a%00.js", "400"},
      {"/a;jsessionid=x/../admin", "/admin"}, // raw ';' is data
      {"/a%3B", "400"},
      {"/a%252e%252e/", "400"},
      {"/%7euser", "/~user"},
      {"/a//b///c", "/a/b/c"},
      {"/a%2x", "400"},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.raw);
    EXPECT_EQ(norm(r.raw), r.expected);
  }
}

// Row 13 of the table: an absolute-form target goes through the parser first.
TEST(NormalizePath, AbsoluteFormTarget) {
  Request req;
  size_t hint = 0;
  ASSERT_TRUE(parse_request_head("GET http://h/a/../b HTTP/1.1\r\nHost: h\r\n\r\n", ParseLimits{},
                                 req, hint)
                  .complete());
  EXPECT_EQ(norm(req.path), "/b");
}

TEST(NormalizePath, DotSegments) {
  struct Row {
    const char* raw;
    const char* expected;
  } rows[] = {
      {"/", "/"},
      {"/a", "/a"},
      {"/a/", "/a/"},
      {"/a/.", "/a/"},
      {"/a/..", "/"},
      {"/a/b/..", "/a/"},
      {"/a/b/../", "/a/"},
      {"/./a", "/a"},
      {"/a/./", "/a/"},
      {"/a/b/c/../../d", "/a/d"},
      {"/..", "400"},
      {"/a/../..", "400"},
      {"/a/../../b", "400"},
      {"//..", "400"}, // "//" merges first, then ".." climbs above the root
      {"/.a/..b/...", "/.a/..b/..."},
      {"/%2E", "/"},
      {"/a/.%2e/b", "/b"},
      {"/a/%2E./b", "/b"},
      {"/a%2e%2e", "/a.."},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.raw);
    EXPECT_EQ(norm(r.raw), r.expected);
  }
}

TEST(NormalizePath, PercentEncoding) {
  struct Row {
    const char* raw;
    const char* expected;
  } rows[] = {
      {"/%41%62%7E%2D%2e%5f", "/Ab~-._"}, // unreserved: decoded
      {"/%3a%40%20", "/%3A%40%20"},       // others: kept, hex upper-cased
      {"/a%C3%A9", "/a%C3%A9"},
      {"/a|b{c}", "/a%7Cb%7Bc%7D"}, // not allowed raw: encoded as Go's EscapedPath does
      {"/\"<>^`", "/%22%3C%3E%5E%60"},
      {"/a:b@c!$&'()*+,;=[]", "/a:b@c!$&'()*+,;=[]"},
      {"/%", "400"},
      {"/%4", "400"},
      {"/%g1", "400"},
      {"/a%2F", "400"},
      {"/a%3f", "400"},
      {"/a%23", "400"},
      {"/a%25", "400"},
      {"/a b", "400"},
      {"/a\\b", "400"},
      {"/a#b", "400"},
      {"/a?b", "400"},
      {"/caf\xc3\xa9", "400"},
      {"/a\x7f", "400"},
      {"a/b", "400"},
      {"", "400"},
      {"*", "*"},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.raw);
    EXPECT_EQ(norm(r.raw), r.expected);
  }
}

// Traefik's behaviour: every allowEncoded* true. The escapes stay encoded and never split.
TEST(NormalizePath, AllowEncodedOptions) {
  PathOptions traefik;
  traefik.allow_encoded_slash = traefik.allow_encoded_back_slash = true;
  traefik.allow_encoded_null_character = traefik.allow_encoded_semicolon = true;
  traefik.allow_encoded_percent = traefik.allow_encoded_question_mark = true;
  traefik.allow_encoded_hash = true;
  EXPECT_EQ(norm("/admin%2fsecret", traefik), "/admin%2Fsecret");
  EXPECT_EQ(norm("/a%2F..%2Fb", traefik), "/a%2F..%2Fb"); // one segment, nothing to remove
  EXPECT_EQ(norm("/a%5c..%5cadmin", traefik), "/a%5C..%5Cadmin");
  EXPECT_EQ(norm("/a%00.js", traefik), "/a%00.js");
  EXPECT_EQ(norm("/a%3b", traefik), "/a%3B");
  EXPECT_EQ(norm("/a%252e%252e/", traefik), "/a%252e%252e/");
  EXPECT_EQ(norm("/a%3F%23", traefik), "/a%3F%23");
  EXPECT_EQ(norm("/../etc", traefik), "400");

  PathOptions one;
  one.allow_encoded_slash = true;
  EXPECT_EQ(norm("/a%2Fb", one), "/a%2Fb");
  EXPECT_EQ(norm("/a%5Cb", one), "400");
}

TEST(NormalizePath, SanitizeAndMergeOptions) {
  PathOptions raw_dots;
  raw_dots.sanitize_path = false;
  EXPECT_EQ(norm("/a/./b/../c//d", raw_dots), "/a/./b/../c//d");
  EXPECT_EQ(norm("/../etc", raw_dots), "/../etc");
  EXPECT_EQ(norm("/%2e%2e/%7e", raw_dots), "/../~");
  PathOptions keep_slashes;
  keep_slashes.merge_slashes = false;
  EXPECT_EQ(norm("/a//b/../c", keep_slashes), "/a//c");
  EXPECT_EQ(norm("/a//..", keep_slashes), "/a/");
  EXPECT_EQ(norm("//", keep_slashes), "//");
}

TEST(NormalizePath, Idempotent) {
  const char* paths[] = {"/a/./b/../c", "/%7e%41/%2e/x",   "/a|b",     "/a//b/", "/a%3a", "/a/..",
                         "/;x/%5B",     "/x/y/z/../../..", "/a%C3%A9/"};
  PathOptions variants[3];
  variants[1].sanitize_path = false;
  variants[2].merge_slashes = false;
  for (const auto& o : variants) {
    for (const char* p : paths) {
      SCOPED_TRACE(p);
      std::string once = norm(p, o);
      ASSERT_NE(once, "400");
      EXPECT_EQ(norm(once, o), once);
    }
  }
}

TEST(NormalizePath, ReusesTheOutputBuffer) {
  std::string out;
  ASSERT_TRUE(normalize_path("/a/long/enough/path/to/allocate/once", {}, out).empty());
  const char* data = out.data();
  ASSERT_TRUE(normalize_path("/short", {}, out).empty());
  EXPECT_EQ(out, "/short");
  EXPECT_EQ(out.data(), data);
}

} // namespace
} // namespace turnpike::http
