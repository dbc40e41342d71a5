// Parsing: syntax, Go string literals, error positions, limits, canonical printing.

#include <gtest/gtest.h>

#include <chrono>

#include "router/rule.h"
#include "router_test_util.h"

namespace turnpike::router {
namespace {

using testing::make_request;

struct ErrorCase {
  std::string rule;
  std::string error; // expected exact prefix "rule position N: ..." (substring of the message)
};

class RuleErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(RuleErrorTest, NamesThePosition) {
  auto rule = parse_rule(GetParam().rule);
  ASSERT_FALSE(rule) << GetParam().rule << " parsed as " << (*rule)->to_string();
  EXPECT_NE(rule.error().message.find(GetParam().error), std::string::npos)
      << "rule: " << GetParam().rule << "\nerror: " << rule.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Errors, RuleErrorTest,
    ::testing::Values(
        ErrorCase{"", "rule position 1: empty rule"},
        ErrorCase{"   ", "rule position 1: empty rule"},
        ErrorCase{"Host(example.com)", "rule position 6: expected a quoted string argument"},
        ErrorCase{"Host('example.com')", "rule position 6: single-quoted"},
        ErrorCase{"rulewithnotmatcher", "rule position 1: unknown matcher \"rulewithnotmatcher\""},
        ErrorCase{"Hots(`a`)", "rule position 1: unknown matcher \"Hots\""},
        ErrorCase{"pathPrefix(`/a`)", "rule position 1: unknown matcher \"pathPrefix\" (did you "
                                      "mean PathPrefix?)"},
        ErrorCase{"Host(`a.com`) && Host(`b.com`, `c.com`)", "rule position 18: Host takes 1"},
        ErrorCase{"Host(`a.com`) && Path(`css`)", "rule position 23: Path value `css` must start"},
        ErrorCase{"PathPrefix(`x`)", "rule position 12: PathPrefix value `x` must start"},
        ErrorCase{"Method(`GET`, `POST`)", "rule position 1: Method takes 1 argument, got 2"},
        ErrorCase{"Header(`X`)", "rule position 1: Header takes 2 arguments, got 1"},
        ErrorCase{"Query()", "rule position 1: Query takes 1 or 2 arguments, got 0"},
        ErrorCase{"Query(`q`, ``)", "rule position 12: empty argument for Query"},
        ErrorCase{"Host(``)", "rule position 6: empty argument for Host"},
        ErrorCase{"Host(`ü.com`)", "rule position 6: invalid Host value"},
        ErrorCase{"Host(`a.*.com`)", "rule position 6: invalid Host value"},
        ErrorCase{"Host(`**.example.com`)", "double wildcards are not supported"},
        ErrorCase{"Host(`:80`)", "rule position 6: invalid Host value `:80`: empty host"},
        ErrorCase{"PathRegexp(`(`)", "rule position 12: invalid PathRegexp regular expression"},
        ErrorCase{"HostRegexp(`[a-`)", "rule position 12: invalid HostRegexp"},
        ErrorCase{"HeaderRegexp(`X`, `a)`)", "rule position 19: invalid HeaderRegexp"},
        ErrorCase{"QueryRegexp(`q`, `*`)", "rule position 18: invalid QueryRegexp"},
        ErrorCase{"ClientIP(`10.0.0.0/33`)", "rule position 10: invalid ClientIP"},
        ErrorCase{"ClientIP(`not-an-ip`)", "rule position 10: invalid ClientIP"},
        ErrorCase{"Host(`a`) &", "rule position 11: expected '&&'"},
        ErrorCase{"Host(`a`) | Host(`b`)", "rule position 11: expected '||'"},
        ErrorCase{"Host(`a`) &&", "rule position 13: expected a matcher, found end of rule"},
        ErrorCase{"Host(`a`) Path(`/`)", "rule position 11: unexpected 'P'"},
        ErrorCase{"(Host(`a`)", "rule position 11: expected ')' to close '(' at position 1"},
        ErrorCase{"Host(`a`))", "rule position 10: unexpected ')'"},
        ErrorCase{"Host(`a`",
                  "rule position 9: expected ',' or ')' in Host(...), found end of rule"},
        ErrorCase{"Host(", "rule position 6: expected ')' to close Host(, found end of rule"},
        ErrorCase{"Host(`a` `b`)", "rule position 10: expected ',' or ')'"},
        ErrorCase{"Host(`a)", "rule position 6: unterminated string"},
        ErrorCase{"Host(\"a)", "rule position 6: unterminated string"},
        ErrorCase{"Host(\"a\nb\")", "rule position 8: newline in string"},
        ErrorCase{"Host(\"a\\qb\")", "rule position 8: unknown escape sequence"},
        ErrorCase{"Host(\"a\\'b\")", "rule position 8: unknown escape sequence"},
        ErrorCase{"Host(\"\\x4\")", "rule position 7: invalid escape sequence"},
        ErrorCase{"Host(\"\\400\")", "rule position 7: escape sequence is not a valid"},
        ErrorCase{"Host(\"\\uD800\")", "rule position 7: escape sequence is not a valid"},
        ErrorCase{std::string("Path(`/\xff`)"), "rule position 8: invalid UTF-8"},
        ErrorCase{std::string("Path(`/\0`)", 10), "rule position 8: NUL byte"},
        ErrorCase{"Host(`a`) && !", "rule position 15: expected a matcher, found end of rule"},
        ErrorCase{"()", "rule position 2: expected a matcher, found ')'"},
        ErrorCase{"Host", "rule position 5: expected '(' after Host, found end of rule"},
        ErrorCase{"Host(`a`) == true", "rule position 11: unexpected '='"},
        ErrorCase{"Host(`a`) and Path(`/`)", "rule position 11: unexpected 'a'"}));

TEST(RuleParser, GoStringLiterals) {
  struct Case {
    std::string rule;
    std::string path; // the Path() value the literal must decode to
  };
  const std::vector<Case> cases = {
      {"Path(`/a\\b`)", "/a\\b"},                      // raw: backslash is literal
      {"Path(\"/a\\\\b\")", "/a\\b"},                  // interpreted: \\ is one backslash
      {"Path(\"/a\\\"b\")", "/a\"b"},                  // \"
      {"Path(\"/\\x41\\102\\u00e9\")", "/AB\xc3\xa9"}, // hex, octal, \u -> UTF-8
      {"Path(\"/\\U0001F9AD\")", "/\xf0\x9f\xa6\xad"},
      {"Path(\"/\\t\")", "/\t"},
      {"Path(`/a\r\nb`)", "/a\nb"}, // Go drops CR from raw strings
      {"Path(`/é`)", "/\xc3\xa9"},
  };
  for (const auto& c : cases) {
    auto rule = parse_rule(c.rule);
    ASSERT_TRUE(rule) << c.rule << ": " << rule.error().message;
    ASSERT_EQ((*rule)->matchers().size(), 1u);
    EXPECT_EQ((*rule)->matchers()[0].args()[0], c.path) << c.rule;
  }
}

TEST(RuleParser, WhitespaceAndTrailingComma) {
  for (std::string text : {"Host(`a.com`)&&Path(`/`)", "  Host ( `a.com` )\n&&\tPath(`/`)  ",
                           "Host(`a.com`,) && Path(`/`,)", "((Host(`a.com`))) && (Path(`/`))"}) {
    auto rule = parse_rule(text);
    ASSERT_TRUE(rule) << text << ": " << rule.error().message;
    EXPECT_EQ((*rule)->to_string(), "Host(`a.com`) && Path(`/`)") << text;
  }
}

TEST(RuleParser, AcceptedMatcherSpellings) {
  for (std::string name : {"ClientIP", "clientip", "CLIENTIP", "Clientip"}) {
    auto rule = parse_rule(name + "(`10.0.0.0/8`)");
    ASSERT_TRUE(rule) << name;
    EXPECT_EQ((*rule)->to_string(), "ClientIP(`10.0.0.0/8`)");
  }
  for (std::string name : {"clientIP", "CLientIP", "hostRegexp"})
    EXPECT_FALSE(parse_rule(name + "(`x`)")) << name;
}

struct PrintCase {
  std::string rule;
  std::string canonical;
};

class RulePrintTest : public ::testing::TestWithParam<PrintCase> {};

TEST_P(RulePrintTest, CanonicalFormReparsesIdentically) {
  auto rule = parse_rule(GetParam().rule);
  ASSERT_TRUE(rule) << rule.error().message;
  std::string printed = (*rule)->to_string();
  EXPECT_EQ(printed, GetParam().canonical);
  auto again = parse_rule(printed);
  ASSERT_TRUE(again) << printed << ": " << again.error().message;
  EXPECT_EQ((*again)->to_string(), printed);
}

INSTANTIATE_TEST_SUITE_P(
    Printing, RulePrintTest,
    ::testing::Values(
        PrintCase{"host(\"a.com\")", "Host(`a.com`)"},
        PrintCase{"Host(`a`) || Host(`b`) && Path(`/c`)", "Host(`a`) || Host(`b`) && Path(`/c`)"},
        PrintCase{"(Host(`a`) || Host(`b`)) && Path(`/c`)",
                  "(Host(`a`) || Host(`b`)) && Path(`/c`)"},
        PrintCase{"!(Host(`a`) && !Path(`/c`))", "!Host(`a`) || Path(`/c`)"},
        PrintCase{"!(Host(`a`) || Path(`/c`))", "!Host(`a`) && !Path(`/c`)"},
        PrintCase{"!!Host(`a`)", "Host(`a`)"},
        PrintCase{"Host(`a`) && (Path(`/b`) && (Method(`GET`) && Query(`q`)))",
                  "Host(`a`) && Path(`/b`) && Method(`GET`) && Query(`q`)"},
        PrintCase{"Method(`get`) && !(Query(`a`) || !(Header(`X`, `1`) || Query(`b`, `2`)))",
                  "Method(`get`) && !Query(`a`) && (Header(`X`, `1`) || Query(`b`, `2`))"},
        PrintCase{"PathRegexp(\"^/a\\\\.b`c\")", "PathRegexp(\"^/a\\\\.b`c\")"},
        PrintCase{"Header(\"X\", \"a\\x00b\\xffc\")", "Header(`X`, \"a\\x00b\\xFFc\")"},
        PrintCase{"Header(`X`, \"line\\nbreak\")", "Header(`X`, `line\nbreak`)"}));

TEST(RuleParser, NestingIsBounded) {
  std::string ok = std::string(kMaxRuleDepth, '(') + "Path(`/`)" + std::string(kMaxRuleDepth, ')');
  EXPECT_TRUE(parse_rule(ok));
  std::string deep =
      std::string(kMaxRuleDepth + 1, '(') + "Path(`/`)" + std::string(kMaxRuleDepth + 1, ')');
  auto rule = parse_rule(deep);
  ASSERT_FALSE(rule);
  EXPECT_NE(rule.error().message.find("rule position 65: rule nests deeper than 64"),
            std::string::npos)
      << rule.error().message;
  EXPECT_FALSE(parse_rule(std::string(100000, '!') + "Path(`/`)"));
  EXPECT_FALSE(parse_rule(std::string(100000, '(')));
}

TEST(RuleParser, LongChainsAreLinearAndShallow) {
  // 20,000 alternatives: parses quickly, evaluates without deep recursion, flattens to one OR.
  std::string text;
  for (int i = 0; i < 20000; ++i) {
    if (i)
      text += i % 2 ? " || " : " && ";
    text += "Path(`/p" + std::to_string(i) + "`)";
  }
  auto start = std::chrono::steady_clock::now();
  auto rule = parse_rule(text);
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(rule) << rule.error().message;
  EXPECT_LT(elapsed, std::chrono::seconds(2));
  EXPECT_EQ((*rule)->nodes()[0].kind, Rule::Node::Kind::kOr);
  EXPECT_FALSE((*rule)->matches(make_request("/nothing")));
  EXPECT_EQ(parse_rule((*rule)->to_string()).value()->to_string(), (*rule)->to_string());
}

TEST(RuleParser, Domains) {
  auto rule = parse_rule(
      "(Host(`A.com`) || Host(`*.b.com`)) && !Host(`c.com`) || HostRegexp(`d`) || host(`a.com`)");
  ASSERT_TRUE(rule);
  EXPECT_EQ((*rule)->domains(), (std::vector<std::string>{"a.com", "*.b.com"}));
}

} // namespace
} // namespace turnpike::router
