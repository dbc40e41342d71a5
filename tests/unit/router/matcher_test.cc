// Each matcher and the operators, table-driven: rule x request -> matched or not.

#include <gtest/gtest.h>

#include "router/rule.h"
#include "router_test_util.h"

namespace turnpike::router {
namespace {

using testing::make_request;
using testing::RequestSpec;

struct MatchCase {
  std::string rule;
  RequestSpec request;
  bool matched;
};

std::string describe(const MatchCase& c) {
  std::string out = c.rule + " vs " + c.request.method + " " + c.request.url;
  for (const auto& [n, v] : c.request.headers)
    out += " [" + n + ": " + v + "]";
  return out + " from " + c.request.client;
}

RequestSpec get(std::string url) {
  RequestSpec spec;
  spec.url = std::move(url);
  return spec;
}
RequestSpec method(std::string m, std::string url = "/") {
  RequestSpec spec = get(std::move(url));
  spec.method = std::move(m);
  return spec;
}
RequestSpec headers(std::vector<std::pair<std::string, std::string>> h) {
  RequestSpec spec = get("http://example.com/");
  spec.headers = std::move(h);
  return spec;
}
RequestSpec client(std::string ip) {
  RequestSpec spec = get("/");
  spec.client = std::move(ip);
  return spec;
}

class MatcherTest : public ::testing::TestWithParam<MatchCase> {};

TEST_P(MatcherTest, Matches) {
  const MatchCase& c = GetParam();
  auto rule = parse_rule(c.rule);
  ASSERT_TRUE(rule) << c.rule << ": " << rule.error().message;
  EXPECT_EQ((*rule)->matches(make_request(c.request)), c.matched) << describe(c);
}

INSTANTIATE_TEST_SUITE_P(
    Host, MatcherTest,
    ::testing::Values(MatchCase{"Host(`example.com`)", get("http://example.com/"), true},
                      MatchCase{"Host(`EXAMPLE.com`)", get("http://example.com/"), true},
                      MatchCase{"Host(`example.com:8443`)", get("http://example.com/"), true},
                      MatchCase{"Host(`example.com`)", get("http://www.example.com/"), false},
                      MatchCase{"Host(`example.com`)", get("/"), false},
                      MatchCase{"Host(`*.example.com`)", get("http://A.Example.Com./"), true},
                      MatchCase{"Host(`*.example.com`)", get("http://.example.com/"), false},
                      MatchCase{"Host(`*.example.com.`)", get("http://x.example.com/"), true},
                      MatchCase{"Host(`*`)", get("http://[::1]:8080/"), true},
                      MatchCase{"Host(`[::1]`)", get("http://[::1]:8080/"), true},
                      MatchCase{"Host(`::1`)", get("http://[::1]/"), true},
                      MatchCase{"Host(`127.0.0.1`)", get("http://127.0.0.1:80/"), true}));

INSTANTIATE_TEST_SUITE_P(
    HostRegexp, MatcherTest,
    ::testing::Values(
        MatchCase{"HostRegexp(`^[a-z]+\\.example\\.com$`)", get("http://API.example.com/"), true},
        MatchCase{"HostRegexp(`^[a-z]+\\.example\\.com$`)", get("http://a.b.example.com/"), false},
        MatchCase{"HostRegexp(`example`)", get("http://www.example.org/"), true}, // unanchored
        MatchCase{"HostRegexp(`^example\\.com$`)", get("http://example.com.:80/"), true},
        MatchCase{"HostRegexp(`^$`)", get("/"), true}));

INSTANTIATE_TEST_SUITE_P(
    Path, MatcherTest,
    ::testing::Values(
        MatchCase{"Path(`/`)", get("/"), true}, MatchCase{"Path(`/a/b`)", get("/a/b?x=1"), true},
        MatchCase{"Path(`/a b`)", get("/a%20b"), true},
        MatchCase{"Path(`/é`)", get("/%C3%A9"), true},
        MatchCase{"Path(`/a%2Fb`)", get("/a%2Fb"), true}, // reserved escapes compare encoded
        MatchCase{"Path(`/a%2fb`)", get("/a%2Fb"), true}, // whatever the hex case in the rule
        MatchCase{"Path(`/a/b`)", get("/a%2Fb"), false},
        MatchCase{"Path(`/a;b`)", get("/a%3Bb"), false},
        MatchCase{"Path(`/a%3Bb`)", get("/a%3Bb"), true},
        MatchCase{"Path(`/a%25b`)", get("/a%25b"), true},
        MatchCase{"Path(`/a%b`)", get("/a%25b"), false},
        MatchCase{"Path(`/a?b`)", get("/a%3Fb"), false},
        MatchCase{"Path(`/a%20b`)", get("/a%20b"),
                  false}, // like Traefik: rules are written decoded
        MatchCase{"Path(`/A`)", get("/a"), false}));

INSTANTIATE_TEST_SUITE_P(
    PathPrefix, MatcherTest,
    ::testing::Values(MatchCase{"PathPrefix(`/`)", get("/anything"), true},
                      MatchCase{"PathPrefix(`/api`)", get("/api"), true},
                      MatchCase{"PathPrefix(`/api`)", get("/apiv2/x"), true},
                      MatchCase{"PathPrefix(`/api/`)", get("/api"), false},
                      MatchCase{"PathPrefix(`/foo bar`)", get("/foo%20bar/baz"), true},
                      MatchCase{"PathPrefix(`/foo/bar`)", get("/foo%2Fbar"), false},
                      MatchCase{"PathPrefix(`/API`)", get("/api"), false}));

INSTANTIATE_TEST_SUITE_P(
    PathRegexp, MatcherTest,
    ::testing::Values(MatchCase{"PathRegexp(`^/v[0-9]+/`)", get("/v12/users"), true},
                      MatchCase{"PathRegexp(`^/v[0-9]+/`)", get("/V12/users"), false},
                      MatchCase{"PathRegexp(`\\.css$`)", get("/a/b.css"),
                                true}, // unanchored search
                      MatchCase{"PathRegexp(`(?i)^/css`)", get("/CSS"), true},
                      MatchCase{"PathRegexp(`^/a b$`)", get("/a%20b"), true},
                      MatchCase{"PathRegexp(`^/a%2Fb$`)", get("/a%2Fb"), true}));

INSTANTIATE_TEST_SUITE_P(Method, MatcherTest,
                         ::testing::Values(MatchCase{"Method(`GET`)", method("GET"), true},
                                           MatchCase{"Method(`post`)", method("POST"), true},
                                           MatchCase{"Method(`GET`)", method("HEAD"), false},
                                           MatchCase{"Method(`GET`)", method("get"),
                                                     false}, // request methods are case-sensitive
                                           MatchCase{"Method(`PURGE`)", method("PURGE"), true}));

INSTANTIATE_TEST_SUITE_P(
    Header, MatcherTest,
    ::testing::Values(
        MatchCase{"Header(`X-Api`, `v1`)", headers({{"X-Api", "v1"}}), true},
        MatchCase{"Header(`x-api`, `v1`)", headers({{"X-API", "v1"}}), true},
        MatchCase{"Header(`X-Api`, `v1`)", headers({{"X-Api", "V1"}}), false},
        MatchCase{"Header(`X-Api`, `v1`)", headers({{"X-Api", "v0"}, {"X-Api", "v1"}}), true},
        MatchCase{"Header(`X-Api`, `v1`)", headers({{"X-Api", "v0, v1"}}), false}, // no splitting
        MatchCase{"Header(`X-Api`, `v1`)", headers({}), false},
        // Go's net/http keeps Host out of the header map: Traefik's Header never sees it.
        MatchCase{"Header(`Host`, `example.com`)", headers({}), false},
        MatchCase{"HeaderRegexp(`Host`, `.`)", headers({}), false},
        MatchCase{"HeaderRegexp(`Accept`, `json`)", headers({{"Accept", "application/json"}}),
                  true},
        MatchCase{"HeaderRegexp(`Accept`, `^json`)", headers({{"Accept", "application/json"}}),
                  false},
        MatchCase{"HeaderRegexp(`Accept`, `^$`)", headers({{"Accept", ""}}), true},
        MatchCase{"HeaderRegexp(`Accept`, `.*`)", headers({}), false}));

INSTANTIATE_TEST_SUITE_P(
    Query, MatcherTest,
    ::testing::Values(
        MatchCase{"Query(`q`, `a b`)", get("/?q=a+b"), true},
        MatchCase{"Query(`q`, `a b`)", get("/?q=a%20b"), true},
        MatchCase{"Query(`q`, `a+b`)", get("/?q=a%2Bb"), true},
        MatchCase{"Query(`q w`, `1`)", get("/?q+w=1"), true},
        MatchCase{"Query(`q`, `1`)", get("/?x=0&q=1&y=2"), true},
        MatchCase{"Query(`q`, `1`)", get("/?q=1;x=2"), false},  // ';' segments are dropped (Go)
        MatchCase{"Query(`q`, `1`)", get("/?q=%zz&q=1"), true}, // only the bad segment is dropped
        MatchCase{"Query(`q`)", get("/?q="), true}, MatchCase{"Query(`q`)", get("/?q&q=1"), true},
        MatchCase{"Query(`q`)", get("/?q=1"), false}, MatchCase{"Query(`q`)", get("/"), false},
        MatchCase{"Query(`q`, `1`)", get("/?q=1=2"), false},
        MatchCase{"Query(`q`, `1=2`)", get("/?q=1=2"), true},
        MatchCase{"QueryRegexp(`id`, `^[0-9]+$`)", get("/?id=42"), true},
        MatchCase{"QueryRegexp(`id`, `^[0-9]+$`)", get("/?id=x&id=7"), true},
        MatchCase{"QueryRegexp(`id`, `^[0-9]+$`)", get("/?id=4x"), false},
        MatchCase{"QueryRegexp(`id`, `^$`)", get("/?id"), true},
        MatchCase{"QueryRegexp(`id`, `.`)", get("/?ID=1"), false},
        MatchCase{"QueryRegexp(`id`)", get("/?id"), true}, // one argument: like Query(`id`)
        MatchCase{"QueryRegexp(`id`)", get("/?id=1"), false}));

INSTANTIATE_TEST_SUITE_P(
    ClientIP, MatcherTest,
    ::testing::Values(MatchCase{"ClientIP(`10.0.0.1`)", client("10.0.0.1"), true},
                      MatchCase{"ClientIP(`10.0.0.1`)", client("10.0.0.2"), false},
                      MatchCase{"ClientIP(`10.0.0.0/8`)", client("10.200.3.4"), true},
                      MatchCase{"ClientIP(`10.0.0.0/8`)", client("::ffff:10.1.2.3"), true},
                      MatchCase{"ClientIP(`2001:db8::/32`)", client("2001:db8::1"), true},
                      MatchCase{"ClientIP(`2001:db8::/32`)", client("10.0.0.1"), false},
                      MatchCase{"ClientIP(`::1`)", client("::1"), true}));

INSTANTIATE_TEST_SUITE_P(
    Operators, MatcherTest,
    ::testing::Values(
        MatchCase{"Host(`a.com`) && Path(`/x`)", get("http://a.com/x"), true},
        MatchCase{"Host(`a.com`) && Path(`/x`)", get("http://a.com/y"), false},
        MatchCase{"Host(`a.com`) || Path(`/x`)", get("http://b.com/x"), true},
        MatchCase{"Host(`a.com`) || Path(`/x`)", get("http://b.com/y"), false},
        MatchCase{"!Host(`a.com`)", get("http://b.com/"), true},
        MatchCase{"!Host(`a.com`)", get("http://a.com/"), false},
        MatchCase{"!!Host(`a.com`)", get("http://a.com/"), true},
        // && binds tighter than ||: A || (B && C)
        MatchCase{"Path(`/a`) || Path(`/b`) && Method(`POST`)", method("GET", "/a"), true},
        MatchCase{"Path(`/a`) || Path(`/b`) && Method(`POST`)", method("GET", "/b"), false},
        MatchCase{"(Path(`/a`) || Path(`/b`)) && Method(`POST`)", method("GET", "/a"), false},
        MatchCase{"Method(`POST`) && Path(`/a`) || Path(`/b`)", method("GET", "/b"), true},
        // De Morgan on groups
        MatchCase{"!(Path(`/a`) || Path(`/b`))", get("/c"), true},
        MatchCase{"!(Path(`/a`) || Path(`/b`))", get("/b"), false},
        MatchCase{"!(Path(`/a`) && Method(`GET`))", method("POST", "/a"), true},
        MatchCase{"!(!Path(`/a`) && !(Method(`GET`) || Method(`HEAD`)))", method("HEAD", "/z"),
                  true},
        MatchCase{"!(!Path(`/a`) && !(Method(`GET`) || Method(`HEAD`)))", method("PUT", "/z"),
                  false}));

} // namespace
} // namespace turnpike::router
