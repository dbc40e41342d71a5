// Route lookup cost versus table size: the host index must make 100,000 host routers route as
// fast as 10. Each table holds N routers `Host(`svcI.example.com`) && PathPrefix(`/api`)`;
// lookups hit random existing hosts (BM_Lookup/hit), or hosts no router serves (BM_Lookup/miss).
// BM_Lookup/hit_with_50_catch_all adds 50 host-less routers (PathPrefix) of higher priority that
// every lookup must try first, to show what the catch-all list costs. BM_ParseRule measures the
// control-plane parser.

#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "router/route_table.h"

namespace {

using turnpike::http::Request;
using turnpike::router::make_route;
using turnpike::router::Route;
using turnpike::router::RouteTable;

std::string host_name(int i) {
  return "svc" + std::to_string(i) + ".example.com";
}

std::shared_ptr<const RouteTable> host_table(int n, int catch_all) {
  std::vector<Route> routes;
  routes.reserve(static_cast<size_t>(n + catch_all));
  for (int i = 0; i < n; ++i)
    routes.push_back(*make_route("svc" + std::to_string(i) + "@file",
                                 "Host(`" + host_name(i) + "`) && PathPrefix(`/api`)", 0, nullptr));
  for (int i = 0; i < catch_all; ++i)
    routes.push_back(*make_route("prefix" + std::to_string(i) + "@file",
                                 "PathPrefix(`/static" + std::to_string(i) + "`)", 1000, nullptr));
  return std::make_shared<const RouteTable>(RouteTable::build(std::move(routes)));
}

std::vector<Request> requests(int n, bool hit) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> pick(0, n - 1);
  std::vector<Request> out(1024);
  for (auto& req : out) {
    req.method = "GET";
    req.host = hit ? host_name(pick(rng)) : "unknown" + std::to_string(pick(rng)) + ".example.com";
    req.path = "/api/users/42";
  }
  return out;
}

// Lookups in a table of state.range(0) host routers plus `catch_all` host-less ones, for hosts
// the table serves (`hit`) or not.
void BM_Lookup(benchmark::State& state, bool hit, int catch_all) {
  int n = static_cast<int>(state.range(0));
  auto table = host_table(n, catch_all);
  auto reqs = requests(n, hit);
  size_t i = 0;
  for (auto _ : state) {
    const Route* r = table->match(reqs[i++ & 1023]);
    benchmark::DoNotOptimize(r);
  }
  if ((table->match(reqs[0]) != nullptr) != hit)
    state.SkipWithError("unexpected lookup result");
  state.counters["routers"] = static_cast<double>(table->size());
}

void BM_ParseRule(benchmark::State& state) {
  const std::string text =
      "Host(`svc1.example.com`) && (PathPrefix(`/api`) || PathRegexp(`^/v[0-9]+/`)) && "
      "!Header(`X-Debug`, `1`)";
  for (auto _ : state)
    benchmark::DoNotOptimize(turnpike::router::parse_rule(text));
}

// Reference: what a lookup costs without the index (Traefik's muxer tries routes in order).
void BM_LinearScan(benchmark::State& state) {
  int n = static_cast<int>(state.range(0));
  auto table = host_table(n, 0);
  auto reqs = requests(n, true);
  size_t i = 0;
  for (auto _ : state) {
    const Request& req = reqs[i++ & 1023];
    const Route* found = nullptr;
    for (const auto& route : table->routes())
      if (route->rule->matches(req)) {
        found = route.get();
        break;
      }
    benchmark::DoNotOptimize(found);
  }
}

// Control plane: parse 100,000 rules and build the table (a full reload of a large config).
void BM_BuildTable(benchmark::State& state) {
  for (auto _ : state)
    benchmark::DoNotOptimize(host_table(static_cast<int>(state.range(0)), 0));
}

} // namespace

BENCHMARK_CAPTURE(BM_Lookup, hit, true, 0)->Arg(10)->Arg(1000)->Arg(100000);
BENCHMARK_CAPTURE(BM_Lookup, miss, false, 0)->Arg(10)->Arg(1000)->Arg(100000);
BENCHMARK_CAPTURE(BM_Lookup, hit_with_50_catch_all, true, 50)->Arg(10)->Arg(100000);
BENCHMARK(BM_LinearScan)->Arg(10)->Arg(1000)->Arg(100000);
BENCHMARK(BM_ParseRule);
BENCHMARK(BM_BuildTable)->Arg(100000)->Unit(benchmark::kMillisecond)->Iterations(1);

BENCHMARK_MAIN();
