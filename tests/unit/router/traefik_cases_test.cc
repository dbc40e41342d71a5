// The rule-matching cases of traefik-reference.md table 10.2 that concern HTTP rules (1-24 and
// the host part of 26), each asserted the way a user sees it: the rule is accepted or rejected,
// and a request is routed (200) or not (404).

#include <gtest/gtest.h>

#include "router/route_table.h"
#include "router/rule.h"
#include "router_test_util.h"

namespace turnpike::router {
namespace {

using testing::make_request;
using testing::RequestSpec;

struct Probe {
  RequestSpec request;
  bool routed;
};

struct TraefikCase {
  std::string id;
  std::string rule;
  std::string error; // non-empty: the rule must be rejected with a message containing this
  std::vector<Probe> probes;
};

RequestSpec url(std::string u) {
  RequestSpec spec;
  spec.url = std::move(u);
  return spec;
}

RequestSpec with_header(std::string u, std::vector<std::pair<std::string, std::string>> headers) {
  RequestSpec spec = url(std::move(u));
  spec.headers = std::move(headers);
  return spec;
}

RequestSpec from_client(std::string u, std::string client,
                        std::vector<std::pair<std::string, std::string>> headers = {}) {
  RequestSpec spec = with_header(std::move(u), std::move(headers));
  spec.client = std::move(client);
  return spec;
}

RequestSpec with_method(std::string u, std::string method) {
  RequestSpec spec = url(std::move(u));
  spec.method = std::move(method);
  return spec;
}

const std::vector<TraefikCase>& traefik_cases() {
  static const std::vector<TraefikCase> cases = {
      {"1 host is case-insensitive, port ignored",
       "Host(`example.com`)",
       "",
       {{url("https://EXAMPLE.COM/path"), true},
        {url("https://example.com:8080"), true},
        {url("https://example.org/"), false}}},
      {"2 trailing dot in rule", "Host(`example.com.`)", "", {{url("https://example.com/"), true}}},
      {"2 trailing dot in request",
       "Host(`example.com`)",
       "",
       {{url("https://example.com./"), true}}},
      {"3 non-ASCII Host", "Host(`🦭.com`)", "non-ASCII", {}},
      {"3 non-ASCII HostRegexp", "HostRegexp(`🦭.com`)", "non-ASCII", {}},
      {"3 punycode host", "Host(`xn--9t9h.com`)", "", {{url("https://xn--9t9h.com/"), true}}},
      {"4 single-label wildcard",
       "Host(`*.example.com`)",
       "",
       {{url("https://test.example.com/"), true},
        {url("https://example.com/"), false},
        {url("https://test.otherexample.com/"), false},
        {url("https://a.b.example.com/"), false}}},
      {"5 Host(*) matches every host",
       "Host(`*`)",
       "",
       {{url("http://localhost/"), true}, {url("http://example.com/"), true}, {url("/"), true}}},
      {"6 Host takes one argument",
       "Host(`example.com`, `example.org`)",
       "Host takes 1 argument",
       {}},
      {"7 HostRegexp sees the lower-cased host",
       "HostRegexp(`^[A-Z]+\\.com$`)",
       "",
       {{url("https://EXAMPLE.com/"), false}}},
      {"8 v2 placeholders are literal RE2",
       "HostRegexp(`{domain:[a-zA-Z-]+\\.com}`)",
       "",
       {{url("https://example.com/"), false}}},
      {"9 Path must start with /", "Path(`css`)", "must start with '/'", {}},
      {"10 Path is exact",
       "Path(`/css`)",
       "",
       {{url("/css"), true}, {url("/css/"), false}, {url("/css/main.css"), false}}},
      {"11 PathPrefix is a plain prefix",
       "PathPrefix(`/css`)",
       "",
       {{url("/css"), true},
        {url("/css/"), true},
        {url("/css/main.css"), true},
        {url("/css-foo"), true},
        {url("/cs"), false}}},
      {"12 PathRegexp is case-sensitive",
       "PathRegexp(`^/(css|js)`)",
       "",
       {{url("/CSS"), false}, {url("/js/main.js"), true}}},
      {"13 unreserved escapes are decoded for routing",
       "PathPrefix(`/foo bar`)",
       "",
       {{url("/foo%20bar"), true}}},
      {"13 reserved %2F stays encoded",
       "PathPrefix(`/foo/bar`)",
       "",
       {{url("/foo%2Fbar"), false}, {url("/foo/bar"), true}}},
      {"14 Method argument is upper-cased",
       "Method(`get`)",
       "",
       {{with_method("/", "GET"), true}, {with_method("/", "POST"), false}}},
      {"14 Method takes one argument", "Method(`GET`, `POST`)", "Method takes 1 argument", {}},
      {"15 Header matches any value",
       "Header(`X-Forwarded-Proto`, `https`)",
       "",
       {{with_header("/", {{"X-Forwarded-Proto", "http"}, {"X-Forwarded-Proto", "https"}}), true},
        {with_header("/", {{"x-forwarded-proto", "https"}}), true},
        {with_header("/", {{"X-Forwarded-Proto", "http"}}), false}}},
      {"16 HeaderRegexp value is case-sensitive",
       "HeaderRegexp(`X-Forwarded-Proto`, `^https?$`)",
       "",
       {{with_header("/", {{"X-Forwarded-Proto", "HTTPS"}}), false},
        {with_header("/", {{"X-Forwarded-Proto", "https"}}), true}}},
      {"17 Query matches any value, case-sensitive",
       "Query(`q`, `traefik`)",
       "",
       {{url("/?q=awesome&q=traefik"), true},
        {url("/?q=TRAEFIK"), false},
        {url("/?Q=traefik"), false}}},
      {"18 Query with one argument: key with empty value",
       "Query(`mobile`)",
       "",
       {{url("/?mobile"), true}, {url("/?mobile=true"), false}}},
      {"18 Query empty value", "Query(`q`, ``)", "empty argument", {}},
      {"19 ClientIP needs an IP or CIDR", "ClientIP(`1`)", "invalid ClientIP", {}},
      {"19 ClientIP ignores X-Forwarded-For",
       "ClientIP(`192.168.1.0/24`)",
       "",
       {{from_client("/", "192.168.1.5", {{"X-Forwarded-For", "10.0.0.1"}}), true},
        {from_client("/", "10.0.0.1", {{"X-Forwarded-For", "192.168.1.5"}}), false}}},
      {"20 unquoted argument", "Host(example.com)", "expected a quoted string", {}},
      {"20 not a matcher call", "rulewithnotmatcher", "unknown matcher", {}},
      {"20 single quotes", "Host('example.com')", "single-quoted", {}},
      {"21 && binds tighter than ||",
       "Host(\"example.com\") || Host(\"example.org\") && Path(\"/css\")",
       "",
       {{url("http://example.com/js"), true},
        {url("http://example.org/js"), false},
        {url("http://example.org/css"), true}}},
      {"22 negation of a group",
       "!(Host(\"example.com\") && !Path(\"/css\"))",
       "",
       {{url("http://example.com/css"), true},
        {url("http://example.org/css"), true},
        {url("http://example.com/js"), false}}},
      {"23 upper-case name", "PATHPREFIX(\"/css\")", "", {{url("/css"), true}}},
      {"23 lower-case name", "pathprefix(\"/css\")", "", {{url("/css"), true}}},
      {"23 capitalised name", "Pathprefix(\"/css\")", "", {{url("/css"), true}}},
  };
  return cases;
}

void PrintTo(const TraefikCase& c, std::ostream* os) {
  *os << c.rule;
}

class TraefikCaseTest : public ::testing::TestWithParam<TraefikCase> {};

TEST_P(TraefikCaseTest, MatchesLikeTraefik) {
  const TraefikCase& c = GetParam();
  auto rule = parse_rule(c.rule);
  if (!c.error.empty()) {
    ASSERT_FALSE(rule) << c.rule << " was accepted";
    EXPECT_NE(rule.error().message.find(c.error), std::string::npos) << rule.error().message;
    EXPECT_TRUE(rule.error().message.starts_with("rule position ")) << rule.error().message;
    return;
  }
  ASSERT_TRUE(rule) << rule.error().message;
  // Through the route table too, so that the host index is exercised with the same cases.
  auto table = RouteTable::build({Route{"r", c.rule, *rule, default_priority(c.rule), nullptr}});
  for (const auto& probe : c.probes) {
    http::Request req = make_request(probe.request);
    EXPECT_EQ((*rule)->matches(req), probe.routed) << c.rule << " vs " << probe.request.url;
    EXPECT_EQ(table.match(req) != nullptr, probe.routed) << c.rule << " vs " << probe.request.url;
  }
}

INSTANTIATE_TEST_SUITE_P(Table10_2, TraefikCaseTest, ::testing::ValuesIn(traefik_cases()),
                         [](const auto& info) {
                           std::string name = "case" + std::to_string(info.index) + "_" +
                                              info.param.id.substr(0, info.param.id.find(' '));
                           return name;
                         });

// Case 24: default priority is the rule length; an explicit priority overrides it.
TEST(TraefikPriority, LongerRuleWinsThenExplicitPriority) {
  auto route = [](std::string name, std::string rule, int64_t priority) {
    auto r = make_route(std::move(name), std::move(rule), priority, nullptr);
    EXPECT_TRUE(r) << r.error().message;
    return std::move(*r);
  };
  auto req = make_request("/mypath");
  {
    auto table = RouteTable::build(
        {route("A", "PathPrefix(`/my`)", 0), route("B", "PathPrefix(`/mypath`)", 0)});
    ASSERT_NE(table.match(req), nullptr);
    EXPECT_EQ(table.match(req)->name, "B");
    EXPECT_EQ(table.routes()[0]->priority, 21); // len("PathPrefix(`/mypath`)")
  }
  {
    auto table = RouteTable::build(
        {route("A", "PathPrefix(`/my`)", 20), route("B", "PathPrefix(`/mypath`)", 10)});
    EXPECT_EQ(table.match(req)->name, "A");
  }
  EXPECT_EQ(default_priority("Host(`example.org`)"), 19);
}

// Case 26 (host part): the router routes on the entrypoint's routing host (from the absolute-form
// URI when there is one), never on the Host header field itself.
TEST(TraefikHost, RoutesOnRequestHostNotHostField) {
  auto rule = parse_rule("Host(`example.com`)");
  ASSERT_TRUE(rule);
  http::Request req = make_request("/");
  req.authority = "example.com";
  req.host = "example.com"; // what the entrypoint derives from `GET http://example.com/`
  req.headers.set("Host", "example.org");
  EXPECT_TRUE((*rule)->matches(req));

  req.host = "example.org"; // Host field wins only when the URI had no authority
  req.headers.set("Host", "example.com");
  EXPECT_FALSE((*rule)->matches(req));
}

} // namespace
} // namespace turnpike::router
