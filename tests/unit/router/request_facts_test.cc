// The request facts matchers compare: canonical host, routing path, parsed query.

#include <gtest/gtest.h>

#include "router/request_facts.h"
#include "router_test_util.h"

namespace turnpike::router {
namespace {

TEST(CanonicalHost, Table) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"example.com", "example.com"},
      {"EXAMPLE.Com", "example.com"},
      {"example.com:8080", "example.com"},
      {"example.com.", "example.com"},
      {"example.com.:443", "example.com"},
      {"[::1]:8080", "::1"},
      {"[::1]", "::1"},
      {"::1", "::1"},
      {"2001:DB8::1", "2001:db8::1"},
      {"", ""},
      {"*", "*"},
      {"*.Example.com.", "*.example.com"},
  };
  for (const auto& [in, out] : cases) {
    EXPECT_EQ(canonical_host(in), out) << in;
    EXPECT_EQ(is_canonical_host(in), in == out) << in;
  }
}

TEST(RoutingPath, DecodesAllButStructuralEscapes) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/plain", "/plain"},
      {"/foo%20bar", "/foo bar"},
      {"/%C3%A9t%c3%a9", "/\xc3\xa9t\xc3\xa9"},
      {"/a%2Fb%2fc", "/a%2Fb%2Fc"},
      {"/a%5Cb", "/a%5Cb"},
      {"/a%3Bb", "/a%3Bb"},
      {"/a%25b", "/a%25b"},
      {"/a%3Fb%23c", "/a%3Fb%23c"},
      {"/a%00b", "/a%00b"},
      {"/a%3Ab%40c%2B", "/a:b@c+"},
      {"/bad%zz%4", "/bad%zz%4"}, // malformed escapes are kept as they are
      {"/%", "/%"},
  };
  for (const auto& [in, out] : cases)
    EXPECT_EQ(routing_path(in), out) << in;
}

TEST(ParseQuery, LikeGoParseQuery) {
  auto q = parse_query("a=1&b&c=&&d=x+y%21&e=%zz&f;g=1&=v&a=2");
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& p : q)
    got.emplace_back(p.key, p.value);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, std::string>>{
                     {"a", "1"}, {"b", ""}, {"c", ""}, {"d", "x y!"}, {"", "v"}, {"a", "2"}}));
  EXPECT_TRUE(parse_query("").empty());
  EXPECT_TRUE(parse_query("&&&").empty());
}

TEST(RequestFacts, CanonicalisesHostWhenTheEntrypointDidNot) {
  http::Request req = testing::make_request("/a%20b?x=1");
  req.host = "API.Example.com.:8443";
  RequestFacts facts(req);
  EXPECT_EQ(facts.host(), "api.example.com");
  EXPECT_EQ(facts.routing_path(), "/a b");
  ASSERT_EQ(facts.query().size(), 1u);
  EXPECT_EQ(facts.query()[0].key, "x");
}

TEST(RequestFacts, BorrowsWhenAlreadyCanonical) {
  http::Request req = testing::make_request("http://api.example.com/plain");
  RequestFacts facts(req);
  EXPECT_EQ(facts.host().data(), req.host.data());
  EXPECT_EQ(facts.routing_path().data(), req.path.data());
}

} // namespace
} // namespace turnpike::router
