// RouteTable: priority order, deterministic ties, host index correctness, and a randomized
// differential test against a naive linear scan.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <random>
#include <thread>

#include "router/route_table.h"
#include "router_test_util.h"

namespace turnpike::router {
namespace {

using testing::make_request;

Route route(std::string name, std::string rule, int64_t priority = 0) {
  auto r = make_route(std::move(name), std::move(rule), priority, nullptr);
  EXPECT_TRUE(r) << r.error().message;
  return std::move(*r);
}

std::string matched(const RouteTable& table, const http::Request& req) {
  const Route* r = table.match(req);
  return r ? r->name : "404";
}

TEST(RouteTable, EmptyTableMatchesNothing) {
  RouteTable empty;
  EXPECT_EQ(empty.match(make_request("http://a.com/")), nullptr);
  EXPECT_EQ(RouteTable::build(std::vector<Route>{}).match(make_request("/")), nullptr);
}

TEST(RouteTable, MakeRouteReportsParseErrorsAndDefaultsPriority) {
  auto bad = make_route("r", "Path(`x`)", 0, nullptr);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "rule position 6: Path value `x` must start with '/'");
  EXPECT_EQ(route("r", "Host(`example.org`)").priority, 19);
  EXPECT_EQ(route("r", "Host(`example.org`)", -5).priority, -5);
  EXPECT_EQ(effective_priority(0, "abc"), 3);
}

TEST(RouteTable, HighestPriorityWins) {
  auto table = RouteTable::build({route("low", "PathPrefix(`/`)", 1),
                                  route("high", "PathPrefix(`/api`)", 100),
                                  route("mid", "Host(`a.com`)", 50)});
  EXPECT_EQ(matched(table, make_request("http://a.com/api/x")), "high");
  EXPECT_EQ(matched(table, make_request("http://a.com/web")), "mid");
  EXPECT_EQ(matched(table, make_request("http://b.com/web")), "low");
  std::vector<std::string> order;
  for (const auto& r : table.routes())
    order.push_back(r->name);
  EXPECT_EQ(order, (std::vector<std::string>{"high", "mid", "low"}));
}

TEST(RouteTable, TiesAreBrokenByNameAscending) {
  // Same rule length (= same default priority), different names: "a@file" < "b@docker".
  for (int flip = 0; flip < 2; ++flip) {
    std::vector<Route> routes = {route("b@docker", "Path(`/x`)"), route("a@file", "Path(`/x`)")};
    if (flip)
      std::reverse(routes.begin(), routes.end());
    auto table = RouteTable::build(std::move(routes));
    EXPECT_EQ(matched(table, make_request("/x")), "a@file");
  }
  // Ties across index lists too: exact, wildcard and catch-all routes of equal priority.
  auto table = RouteTable::build({route("a", "Host(`a.com`)", 7), route("m", "PathPrefix(`/`)", 7),
                                  route("b", "Host(`*.com`)", 7), route("z", "Host(`z.com`)", 7)});
  EXPECT_EQ(matched(table, make_request("http://a.com/")), "a");
  EXPECT_EQ(matched(table, make_request("http://x.com/")), "b");
  EXPECT_EQ(matched(table, make_request("http://z.com/")), "b");
  EXPECT_EQ(matched(table, make_request("http://y.y.com/")), "m");
}

TEST(RouteTable, HostOrPathIsFoundForOtherHosts) {
  auto table = RouteTable::build({route("either", "Host(`a.com`) || PathPrefix(`/shared`)"),
                                  route("fallback", "PathPrefix(`/`)", 1)});
  EXPECT_EQ(table.catch_all_count(), 2u);
  EXPECT_EQ(matched(table, make_request("http://a.com/x")), "either");
  EXPECT_EQ(matched(table, make_request("http://b.com/shared/1")), "either");
  EXPECT_EQ(matched(table, make_request("http://b.com/x")), "fallback");
}

TEST(RouteTable, NegatedHostIsCatchAll) {
  auto table = RouteTable::build(
      {route("not-a", "!Host(`a.com`) && PathPrefix(`/`)"), route("a", "Host(`a.com`)", 1)});
  EXPECT_EQ(table.exact_host_count(), 1u);
  EXPECT_EQ(table.catch_all_count(), 1u);
  EXPECT_EQ(matched(table, make_request("http://b.com/")), "not-a");
  EXPECT_EQ(matched(table, make_request("/")), "not-a");
  EXPECT_EQ(matched(table, make_request("http://a.com/")), "a");
}

TEST(RouteTable, DoubleNegationIsIndexedByHost) {
  auto table = RouteTable::build({route("r", "!(!Host(`a.com`) || !Path(`/x`))")});
  EXPECT_EQ(table.exact_host_count(), 1u);
  EXPECT_EQ(table.catch_all_count(), 0u);
  EXPECT_EQ(matched(table, make_request("http://a.com/x")), "r");
  EXPECT_EQ(matched(table, make_request("http://a.com/y")), "404");
}

TEST(RouteTable, OrOfHostsIsIndexedUnderEachHost) {
  auto table = RouteTable::build(
      {route("multi", "(Host(`a.com`) || Host(`b.com`) || Host(`*.c.com`)) && Path(`/`)")});
  EXPECT_EQ(table.exact_host_count(), 2u);
  EXPECT_EQ(table.wildcard_parent_count(), 1u);
  EXPECT_EQ(table.catch_all_count(), 0u);
  for (std::string host : {"a.com", "b.com", "x.c.com"})
    EXPECT_EQ(matched(table, make_request("http://" + host + "/")), "multi") << host;
  for (std::string host : {"c.com", "x.y.c.com", "d.com"})
    EXPECT_EQ(matched(table, make_request("http://" + host + "/")), "404") << host;
}

TEST(RouteTable, HostInsideAndOfOrIsIndexed) {
  // Each alternative is constrained to a host, so the whole rule is.
  auto table =
      RouteTable::build({route("r", "Host(`a.com`) && Path(`/a`) || Host(`b.com`) && Path(`/b`)")});
  EXPECT_EQ(table.exact_host_count(), 2u);
  EXPECT_EQ(matched(table, make_request("http://b.com/b")), "r");
  EXPECT_EQ(matched(table, make_request("http://b.com/a")), "404");
}

TEST(RouteTable, HostRegexpAndHostStarAreCatchAll) {
  auto table =
      RouteTable::build({route("re", "HostRegexp(`^api\\.`)"), route("star", "Host(`*`)")});
  EXPECT_EQ(table.catch_all_count(), 2u);
  EXPECT_EQ(matched(table, make_request("http://api.x.com/")), "re");
  EXPECT_EQ(matched(table, make_request("http://www.x.com/")), "star");
  EXPECT_EQ(matched(table, make_request("/")), "star");
}

TEST(RouteTable, WildcardVersusExact) {
  auto table = RouteTable::build({route("wild", "Host(`*.example.com`)"),
                                  route("exact", "Host(`api.example.com`)"),
                                  route("apex", "Host(`example.com`)")});
  // Longer rule = higher default priority: the exact host beats the wildcard.
  EXPECT_EQ(matched(table, make_request("http://api.example.com/")), "exact");
  EXPECT_EQ(matched(table, make_request("http://www.example.com/")), "wild");
  EXPECT_EQ(matched(table, make_request("http://example.com/")), "apex");
  EXPECT_EQ(matched(table, make_request("http://a.www.example.com/")), "404");

  // A wildcard with an explicit higher priority beats the exact host.
  auto table2 = RouteTable::build(
      {route("wild", "Host(`*.example.com`)", 1000), route("exact", "Host(`api.example.com`)")});
  EXPECT_EQ(matched(table2, make_request("http://api.example.com/")), "wild");
}

TEST(RouteTable, RouteInExactAndWildcardListsIsTriedOnce) {
  auto table =
      RouteTable::build({route("both", "(Host(`a.x.com`) || Host(`*.x.com`)) && Method(`POST`)"),
                         route("next", "Host(`a.x.com`)", 1)});
  EXPECT_EQ(matched(table, make_request("http://a.x.com/")), "next");
}

TEST(RouteTable, NonCanonicalRequestHostIsLookedUpCanonically) {
  auto table = RouteTable::build({route("r", "Host(`api.example.com`)")});
  http::Request req = make_request("/");
  req.host = "API.Example.COM.:443";
  EXPECT_EQ(matched(table, req), "r");
}

TEST(RouteTable, ManyHostsIndexed) {
  std::vector<Route> routes;
  for (int i = 0; i < 5000; ++i)
    routes.push_back(route("svc" + std::to_string(i), "Host(`svc" + std::to_string(i) +
                                                          ".example.com`) && PathPrefix(`/api`)"));
  auto table = RouteTable::build(std::move(routes));
  EXPECT_EQ(table.exact_host_count(), 5000u);
  EXPECT_EQ(table.catch_all_count(), 0u);
  EXPECT_EQ(matched(table, make_request("http://svc4321.example.com/api/x")), "svc4321");
  EXPECT_EQ(matched(table, make_request("http://svc4321.example.com/web")), "404");
  EXPECT_EQ(matched(table, make_request("http://nope.example.com/api")), "404");
}

TEST(RouteTable, ConcurrentLookupsShareOneTable) {
  // Workers share the table read-only (run under TSan to check).
  auto table = std::make_shared<const RouteTable>(RouteTable::build(
      {route("a", "Host(`a.com`) && PathRegexp(`^/v[0-9]+`)"), route("b", "Query(`x`, `1`)"),
       route("c", "Host(`*.b.com`) && Header(`X`, `y`)")}));
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      testing::RequestSpec spec;
      spec.url = "http://x.b.com/p?x=2";
      spec.headers = {{"X", "y"}};
      auto c = make_request(spec);
      auto a = make_request("http://a.com/v2?x=1");
      auto b = make_request("http://z.com/?x=1");
      for (int i = 0; i < 2000; ++i)
        wrong +=
            matched(*table, a) != "a" || matched(*table, b) != "b" || matched(*table, c) != "c";
    });
  }
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(wrong, 0);
}

// ---- randomized differential test ----

class RandomRules {
public:
  explicit RandomRules(uint32_t seed) : rng_(seed) {}

  // Most rules are host-constrained (like real configurations), so that the exact and wildcard
  // indexes hold winners; the rest land in the catch-all list.
  std::string rule() {
    switch (int_in(0, 9)) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
      return host_leaf() + " && (" + rule(1) + ")";
    case 5:
    case 6:
      return "(" + host_leaf() + " || " + host_leaf() + ") && (" + rule(2) + ")";
    case 7:
    case 8:
      return host_leaf() + " && (" + rule(2) + ") || " + host_leaf();
    default:
      return rule(0);
    }
  }

  std::string rule(int depth) {
    int pick = int_in(0, depth >= 3 ? 5 : 9);
    if (pick <= 5)
      return leaf();
    switch (pick) {
    case 6:
      return rule(depth + 1) + " && " + rule(depth + 1);
    case 7:
      return rule(depth + 1) + " || " + rule(depth + 1);
    case 8:
      return "!(" + rule(depth + 1) + ")";
    default:
      return "(" + rule(depth + 1) + ")";
    }
  }

  http::Request request() {
    testing::RequestSpec spec;
    std::string host = request_host();
    spec.url = (host.empty() ? "" : "http://" + host) + one_of(kPaths) + one_of(kQueries);
    spec.method = one_of(kMethods);
    if (coin())
      spec.headers.push_back({"X-Env", one_of(kEnvs)});
    spec.client = one_of(kClients);
    return testing::make_request(spec);
  }

  int int_in(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool coin() { return int_in(0, 1) == 1; }

private:
  template <size_t N> std::string one_of(const std::array<const char*, N>& items) {
    return items[static_cast<size_t>(int_in(0, static_cast<int>(N) - 1))];
  }

  std::string leaf() {
    std::string not_ = int_in(0, 5) == 0 ? "!" : "";
    switch (int_in(0, 11)) {
    case 0:
    case 1:
    case 2:
    case 3:
      return not_ + host_leaf();
    case 4:
      return not_ + "PathPrefix(`" + one_of(kPaths) + "`)";
    case 5:
      return not_ + "Path(`" + one_of(kPaths) + "`)";
    case 6:
      return not_ + "Method(`" + one_of(kMethods) + "`)";
    case 7:
      return not_ + "Header(`X-Env`, `" + one_of(kEnvs) + "`)";
    case 8:
      return not_ + "Query(`v`, `" + std::to_string(int_in(1, 2)) + "`)";
    case 9:
      return not_ + "ClientIP(`" + one_of(kNets) + "`)";
    case 10:
      return not_ + "HostRegexp(`^h" + std::to_string(int_in(0, 9)) + "\\.`)";
    default:
      return not_ + "PathRegexp(`^/a`)";
    }
  }

  std::string host_leaf() { return "Host(`" + rule_host() + "`)"; }

  std::string rule_host() {
    int pick = int_in(0, 19);
    if (pick == 0)
      return "*";
    if (pick <= 5)
      return "*.d" + std::to_string(int_in(0, 4)) + ".com";
    return "h" + std::to_string(int_in(0, 9)) + ".d" + std::to_string(int_in(0, 4)) + ".com";
  }

  std::string request_host() {
    switch (int_in(0, 9)) {
    case 0:
      return "";
    case 1:
      return "d" + std::to_string(int_in(0, 4)) + ".com"; // apex of a wildcard
    case 2:
      return "x.h1.d" + std::to_string(int_in(0, 4)) + ".com"; // two labels deep
    case 3:
      return "H" + std::to_string(int_in(0, 9)) + ".D1.com.:8080"; // case, dot, port
    default:
      return "h" + std::to_string(int_in(0, 12)) + ".d" + std::to_string(int_in(0, 5)) + ".com";
    }
  }

  static constexpr std::array<const char*, 6> kPaths{"/", "/a", "/a/b", "/ab", "/b", "/a%20b"};
  static constexpr std::array<const char*, 4> kQueries{"", "?v=1", "?v=2", "?v=1&v=2"};
  static constexpr std::array<const char*, 3> kMethods{"GET", "POST", "PUT"};
  static constexpr std::array<const char*, 3> kEnvs{"dev", "prod", "test"};
  static constexpr std::array<const char*, 3> kClients{"10.0.0.1", "192.168.1.9", "::1"};
  static constexpr std::array<const char*, 3> kNets{"10.0.0.0/8", "192.168.1.0/24", "::1"};

  std::mt19937 rng_;
};

TEST(RouteTable, MatchesNaiveLinearScan) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    RandomRules gen(seed);
    std::vector<Route> routes;
    for (int i = 0; i < 300; ++i) {
      // Some routes share rule lengths and priorities to exercise the tie-break.
      std::string text = gen.rule();
      int64_t priority = gen.int_in(0, 3) == 0 ? gen.int_in(1, 5) : 0;
      routes.push_back(route("r" + std::to_string(gen.int_in(0, 999)) + "_" + std::to_string(i),
                             text, priority));
    }
    // The naive reference: sort by (priority desc, name asc), scan, first match wins.
    std::vector<Route> naive = routes;
    std::stable_sort(naive.begin(), naive.end(), [](const Route& a, const Route& b) {
      return a.priority != b.priority ? a.priority > b.priority : a.name < b.name;
    });
    auto table = RouteTable::build(std::move(routes));
    EXPECT_GT(table.exact_host_count() + table.wildcard_parent_count(), 0u);
    EXPECT_LT(table.catch_all_count(), table.size());

    int routed = 0, indexed_wins = 0, wildcard_wins = 0;
    for (int i = 0; i < 5000; ++i) {
      http::Request req = gen.request();
      const Route* expected = nullptr;
      for (const auto& r : naive) {
        if (r.rule->matches(req)) {
          expected = &r;
          break;
        }
      }
      const Route* got = table.match(req);
      ASSERT_EQ(got ? got->name : "404", expected ? expected->name : "404")
          << "seed " << seed << " host=" << req.host << " path=" << req.path
          << " query=" << req.query << " method=" << req.method;
      routed += got != nullptr;
      indexed_wins += got && !got->rule->host_constraint().any_host;
      wildcard_wins += got && !got->rule->host_constraint().wildcard.empty();
    }
    // The generator must make the indexes matter, not just the catch-all list.
    EXPECT_GT(routed, 1000);
    EXPECT_GT(indexed_wins, 500);
    EXPECT_GT(wildcard_wins, 100);
  }
}

// A table patched step by step (RouteTable::patched) routes exactly like one rebuilt from
// scratch: random add / change / remove sequences over hosts exact, wildcard and none, with
// priorities and names chosen to tie often (also routes of the same priority and name, whose
// order is their order of arrival), compared over many requests after every step.
TEST(RouteTable, PatchedRoutesLikeRebuilt) {
  for (uint32_t seed : {11u, 12u, 13u, 14u}) {
    RandomRules gen(seed);
    auto make = [&] {
      std::string text = gen.rule();
      int64_t priority = gen.int_in(0, 2) == 0 ? gen.int_in(1, 3) : 0;
      return std::make_shared<const Route>(
          route("r" + std::to_string(gen.int_in(0, 60)), text, priority));
    };
    std::vector<RoutePtr> live; // in order of arrival: the rebuilt table's input order
    for (int i = 0; i < 150; ++i)
      live.push_back(make());
    RouteTable table = RouteTable::build(live);
    size_t requests = 0;
    for (int step = 0; step < 120; ++step) {
      std::vector<RoutePtr> removed, added;
      int removes = gen.int_in(0, 3), adds = gen.int_in(0, 3);
      for (int k = 0; k < removes && !live.empty(); ++k) {
        size_t at = static_cast<size_t>(gen.int_in(0, static_cast<int>(live.size()) - 1));
        removed.push_back(live[at]);
        live.erase(live.begin() + static_cast<ptrdiff_t>(at));
      }
      // A changed router: its old route removed, a new one with the same name added.
      if (gen.coin() && !live.empty()) {
        size_t at = static_cast<size_t>(gen.int_in(0, static_cast<int>(live.size()) - 1));
        removed.push_back(live[at]);
        auto changed = std::make_shared<const Route>(
            route(live[at]->name, gen.rule(), gen.int_in(0, 1) ? 0 : gen.int_in(1, 3)));
        live.erase(live.begin() + static_cast<ptrdiff_t>(at));
        added.push_back(changed);
      }
      for (int k = 0; k < adds; ++k)
        added.push_back(make());
      live.insert(live.end(), added.begin(), added.end());
      if (gen.int_in(0, 9) == 0) // a route that is not in the table is ignored
        removed.push_back(make());
      table = table.patched(removed, added);
      RouteTable rebuilt = RouteTable::build(live);
      ASSERT_EQ(table.routes(), rebuilt.routes()) << "seed " << seed << " step " << step;
      ASSERT_EQ(table.exact_host_count(), rebuilt.exact_host_count());
      ASSERT_EQ(table.wildcard_parent_count(), rebuilt.wildcard_parent_count());
      ASSERT_EQ(table.catch_all_count(), rebuilt.catch_all_count());
      for (int i = 0; i < 100; ++i, ++requests) {
        http::Request req = gen.request();
        const Route* want = rebuilt.match(req);
        const Route* got = table.match(req);
        // The same route objects: pointers compare the route, not just its name.
        ASSERT_EQ(got, want) << "seed " << seed << " step " << step << " host=" << req.host
                             << " path=" << req.path << " got " << (got ? got->name : "404")
                             << " want " << (want ? want->name : "404");
      }
    }
    EXPECT_EQ(requests, 12000u);
  }
  // Patching the empty table, and down to empty.
  auto only = std::make_shared<const Route>(route("a", "Host(`a.com`)"));
  RouteTable one = RouteTable().patched({}, {only});
  EXPECT_EQ(matched(one, make_request("http://a.com/")), "a");
  RouteTable none = one.patched({only}, {});
  EXPECT_EQ(none.size(), 0u);
  EXPECT_EQ(none.match(make_request("http://a.com/")), nullptr);
  EXPECT_EQ(one.size(), 1u); // the table patched is not changed
}

} // namespace
} // namespace turnpike::router
