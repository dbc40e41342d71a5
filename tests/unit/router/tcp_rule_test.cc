// TCP rules: HostSNI (exact, wildcard, catch-all), HostSNIRegexp, ClientIP, ALPN, operators,
// parse errors, default priorities and the route table's order (Traefik's pkg/muxer/tcp cases).

#include "router/tcp_rule.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace turnpike::router {
namespace {

struct Conn {
  std::string sni;
  std::string ip = "10.0.0.1";
  std::vector<std::string> alpn;
};

bool matches(const std::string& rule, const Conn& c) {
  auto parsed = parse_tcp_rule(rule);
  EXPECT_TRUE(parsed) << rule << ": " << parsed.error().message;
  if (!parsed)
    return false;
  ConnectionFacts facts{c.sni, *parse_ip(c.ip), c.alpn};
  return (*parsed)->matches(facts);
}

TEST(TcpRule, Matchers) {
  struct Case {
    std::string rule;
    Conn conn;
    bool matched;
  };
  const Case cases[] = {
      {"HostSNI(`example.com`)", {"example.com"}, true},
      {"HostSNI(`Example.COM`)", {"example.com"}, true},
      {"HostSNI(`example.com.`)", {"example.com"}, true},
      {"HostSNI(`example.com`)", {"a.example.com"}, false},
      {"HostSNI(`example.com`)", {""}, false},
      {"HostSNI(`*`)", {""}, true},
      {"HostSNI(`*`)", {"anything.test"}, true},
      {"HostSNI(`*.example.com`)", {"a.example.com"}, true},
      {"HostSNI(`*.example.com`)", {"example.com"}, false},
      {"HostSNI(`*.example.com`)", {"a.b.example.com"}, false},
      {"HostSNI(`*.example.com`)", {""}, false},
      {"HostSNIRegexp(`^[a-z]+\\.example\\.com$`)", {"api.example.com"}, true},
      {"HostSNIRegexp(`^[a-z]+\\.example\\.com$`)", {"api2.example.com"}, false},
      {"HostSNIRegexp(`example`)", {"www.example.org"}, true}, // unanchored
      {"ClientIP(`10.0.0.0/8`)", {"", "10.9.8.7"}, true},
      {"ClientIP(`10.0.0.0/8`)", {"", "11.0.0.1"}, false},
      {"ClientIP(`10.0.0.0/8`)", {"", "::ffff:10.1.1.1"}, true},
      {"ClientIP(`::1`)", {"", "::1"}, true},
      {"ALPN(`h2`)", {"x.test", "10.0.0.1", {"http/1.1", "h2"}}, true},
      {"ALPN(`h2`)", {"x.test", "10.0.0.1", {"http/1.1"}}, false},
      {"ALPN(`h2`)", {"x.test"}, false},
      {"!HostSNI(`a.test`)", {"b.test"}, true},
      {"HostSNI(`a.test`) && ClientIP(`10.0.0.1`)", {"a.test", "10.0.0.1"}, true},
      {"HostSNI(`a.test`) && ClientIP(`10.0.0.1`)", {"a.test", "10.0.0.2"}, false},
      // Traefik 10.2 #27: && binds tighter than ||.
      {"HostSNI(`example.org`) || HostSNI(`example.com`) && ClientIP(`10.0.0.1`)",
       {"example.com", "10.0.0.2"},
       false},
      {"HostSNI(`example.org`) || HostSNI(`example.com`) && ClientIP(`10.0.0.1`)",
       {"example.org", "10.0.0.2"},
       true},
      {"(HostSNI(`a.test`) || HostSNI(`b.test`)) && !ALPN(`h2`)",
       {"b.test", "1.1.1.1", {"x"}},
       true},
      {"hostsni(`a.test`)", {"a.test"}, true},
      {"HOSTSNI(`a.test`)", {"a.test"}, true},
      {"Hostsni(`a.test`)", {"a.test"}, true},
  };
  for (const auto& c : cases)
    EXPECT_EQ(matches(c.rule, c.conn), c.matched)
        << c.rule << " vs sni=" << c.conn.sni << " ip=" << c.conn.ip;
}

TEST(TcpRule, ParseErrors) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "empty rule"},
      {"Host(`a.test`)", "unknown TCP matcher \"Host\""},
      {"hostSNI(`a.test`)", "did you mean HostSNI?"},
      {"HostSNI(`a.test`, `b.test`)", "HostSNI takes 1 argument, got 2"},
      {"HostSNI(``)", "empty argument for HostSNI"},
      {"HostSNI(`a_b.test`)", "not a valid hostname"},
      {"HostSNI(`*.*.test`)", "not a valid hostname"},
      {"HostSNI(`a.*.test`)", "not a valid hostname"},
      {"HostSNI(`🦭.com`)", "not a valid hostname"},
      {"HostSNIRegexp(`(`)", "invalid HostSNIRegexp regular expression"},
      {"ClientIP(`1`)", "invalid ClientIP value `1`"},
      {"ALPN(`acme-tls/1`)", "\"acme-tls/1\" is not allowed"},
      {"HostSNI('a.test')", "rule position 9"},
      {"HostSNI(`a.test`) &&", "rule position"},
  };
  for (const auto& [rule, expected] : cases) {
    auto r = parse_tcp_rule(rule);
    ASSERT_FALSE(r) << rule;
    EXPECT_NE(r.error().message.find(expected), std::string::npos)
        << rule << ": " << r.error().message;
    EXPECT_EQ(r.error().message.rfind("rule position ", 0), 0u) << r.error().message;
  }
}

TEST(TcpRule, CatchAllPrintingAndDomains) {
  auto all = *parse_tcp_rule("HostSNI(`*`)");
  EXPECT_TRUE(all->catch_all());
  EXPECT_EQ(tcp_route_priority(0, "HostSNI(`*`)", *all), -1);
  EXPECT_EQ(tcp_route_priority(7, "HostSNI(`*`)", *all), 7);
  for (const char* r : {"!HostSNI(`*`)", "HostSNI(`*`) && ClientIP(`1.2.3.4`)", "HostSNI(`a`)"})
    EXPECT_FALSE((*parse_tcp_rule(r))->catch_all()) << r;

  std::string text = "HostSNI(`A.test`) || !(HostSNI(`*`) && ALPN(\"h2\"))";
  auto rule = *parse_tcp_rule(text);
  EXPECT_EQ(rule->to_string(), "HostSNI(`A.test`) || !HostSNI(`*`) || !ALPN(`h2`)");
  EXPECT_EQ((*parse_tcp_rule(rule->to_string()))->to_string(), rule->to_string());
  EXPECT_EQ(rule->sni_domains(), std::vector<std::string>{"a.test"});
  EXPECT_EQ(tcp_route_priority(0, text, *rule), static_cast<int64_t>(text.size()));
}

TEST(TcpRule, TableOrder) {
  auto route = [](std::string name, std::string rule, int64_t priority) {
    auto parsed = *parse_tcp_rule(rule);
    return TcpRoute{name, rule, parsed, tcp_route_priority(priority, rule, *parsed), nullptr};
  };
  auto table = TcpRouteTable::build({
      route("catchall", "HostSNI(`*`)", 0),
      route("short", "HostSNI(`a.test`)", 0),
      route("long", "HostSNI(`a.test`) || HostSNI(`b.test`)", 0),
      route("pinned", "HostSNI(`*`)", 1000),
      route("b-tie", "HostSNI(`c.test`)", 5),
      route("a-tie", "HostSNI(`c.test`)", 5),
  });
  std::vector<std::string> order;
  for (const auto& r : table.routes())
    order.push_back(r.name);
  EXPECT_EQ(order,
            (std::vector<std::string>{"pinned", "long", "short", "a-tie", "b-tie", "catchall"}));
  std::vector<std::string> none;
  ConnectionFacts facts{"a.test", *parse_ip("10.0.0.1"), none};
  EXPECT_EQ(table.match(facts)->name, "pinned");
  auto without_pinned = TcpRouteTable::build(
      {route("catchall", "HostSNI(`*`)", 0), route("short", "HostSNI(`a.test`)", 0)});
  EXPECT_EQ(without_pinned.match(facts)->name, "short");
  facts.server_name = "zzz.test";
  EXPECT_EQ(without_pinned.match(facts)->name, "catchall");
  EXPECT_EQ(TcpRouteTable().match(facts), nullptr);
}

} // namespace
} // namespace turnpike::router
