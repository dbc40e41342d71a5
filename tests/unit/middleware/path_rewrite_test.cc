#include "middleware/path_rewrite.h"

#include <gtest/gtest.h>

#include "middleware/go_regex.h"

namespace turnpike::middleware {
namespace {

TEST(PathRewrite, FinishNormalisesAndRejects) {
  struct Case {
    std::string in;
    PathProblem problem;
    std::string out;
  };
  const Case cases[] = {
      {"", PathProblem::kNone, "/"},
      {"foo", PathProblem::kNone, "/foo"},
      {"/a b", PathProblem::kNone, "/a%20b"},
      {"/%7euser", PathProblem::kNone, "/~user"},
      {"/a%2fb", PathProblem::kNone, "/a%2Fb"},
      {"/q?x#y", PathProblem::kNone, "/q%3Fx%23y"},
      {"/caf\xc3\xa9", PathProblem::kNone, "/caf%C3%A9"},
      {"/a%zz", PathProblem::kInvalidEscape, ""},
      {"/a%4", PathProblem::kInvalidEscape, ""},
      {"/./x", PathProblem::kDotSegment, ""},
      {"/a/..", PathProblem::kDotSegment, ""},
      {"/%2e%2E/admin", PathProblem::kDotSegment, ""},
      {"/a./b", PathProblem::kNone, "/a./b"},
      {"/...", PathProblem::kNone, "/..."},
  };
  for (const auto& c : cases) {
    std::string p = c.in;
    EXPECT_EQ(finish_rewritten_path(p), c.problem) << c.in;
    if (c.problem == PathProblem::kNone) {
      EXPECT_EQ(p, c.out) << c.in;
    }
  }
}

TEST(GoRegexTest, ReplaceAllExpandsLikeGo) {
  struct Case {
    std::string pattern, replacement, input, expected;
  };
  const Case cases[] = {
      {"^/foo/(.*)", "/bar/$1", "/foo/x/y", "/bar/x/y"},
      {"^/foo/(.*)", "/bar/${1}", "/foo/x", "/bar/x"},
      {"^/(?P<id>[0-9]+)", "/item/${id}", "/42", "/item/42"},
      {"^/(?P<id>[0-9]+)", "/item/$id", "/42", "/item/42"},
      {"^/(a)", "/$1x", "/a", "/"},  // "$1x" names group "1x": empty, as in Go
      {"^/(a)", "/${1}x", "/a", "/ax"},
      {"^/(a)", "/$$1", "/a", "/$1"},
      {"^/(a)", "/$9", "/a", "/"},
      {"^/(a)", "/$", "/a", "/$"},
      {"a", "b", "banana", "bbnbnb"},
      {"x*", "-", "abc", "-a-b-c-"},
      {"a*", "-", "baaac", "-b-c-"},
      {"^http://localhost/(.*)", "http://mydomain/${1}", "http://localhost/a?b", "http://mydomain/a?b"},
  };
  for (const auto& c : cases) {
    auto re = GoRegex::compile(c.pattern);
    ASSERT_TRUE(re) << c.pattern;
    EXPECT_EQ(re->replace_all(c.input, re->compile_template(c.replacement)), c.expected)
        << c.pattern << " / " << c.replacement << " on " << c.input;
  }
}

TEST(GoRegexTest, FindIsLeftmostAndUnanchored) {
  auto re = GoRegex::compile("/[a-z]+/");
  ASSERT_TRUE(re);
  EXPECT_EQ(re->find("/x/abc/y").value_or("none"), "/x/");
  EXPECT_FALSE(re->find("nothing"));
  EXPECT_TRUE(re->matches("0/a/"));
  EXPECT_FALSE(GoRegex::compile("(unclosed"));
}

}  // namespace
}  // namespace turnpike::middleware
