// Load balancer pick cost per strategy at 2, 100 and 10,000 servers (weights 1..5), on one
// worker's slot, as the request path pays it:
//   BM_Pick/<strategy>/<servers>           no health checks: every server eligible
//   BM_PickHealthy/<strategy>/<servers>    with a health table (one server in ten down), the
//                                          check every request makes when health checks are on
// p2c and leasttime also pay their in-flight bookkeeping (started/ended) per pick.

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "service/balancer.h"
#include "service/health.h"

namespace {

using turnpike::service::Balancer;
using turnpike::service::ServiceHealth;
using turnpike::service::Strategy;

std::vector<std::string> urls(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back("http://10.0." + std::to_string(i / 250) + "." +
                                            std::to_string(i % 250) + ":8080");
  return out;
}

std::vector<int> weights(int n) {
  std::vector<int> w;
  for (int i = 0; i < n; ++i) w.push_back(1 + i % 5);
  return w;
}

template <bool kHealth>
void pick(benchmark::State& state, Strategy strategy) {
  int n = static_cast<int>(state.range(0));
  auto keys = urls(n);
  Balancer b(strategy, weights(n), keys, 1);
  ServiceHealth health(keys);
  for (int i = 0; i < n; i += 10) health.set_active(static_cast<size_t>(i) + (n > 1 ? 1 : 0), false);
  int64_t now = turnpike::service::steady_ns(turnpike::Clock::now());
  uint64_t client = 0;
  for (auto _ : state) {
    client += 0x9E3779B97F4A7C15ull;  // a different client each pick (hrw)
    std::optional<size_t> i;
    if constexpr (kHealth)
      i = b.pick(0, client, [&](size_t s) { return health.up(s, now); });
    else
      i = b.pick(0, client);
    b.started(0, *i);
    b.ended(0, *i);
    benchmark::DoNotOptimize(i);
  }
}

void register_all() {
  const std::pair<const char*, Strategy> strategies[] = {
      {"wrr", Strategy::kWrr}, {"p2c", Strategy::kP2c}, {"hrw", Strategy::kHrw},
      {"leasttime", Strategy::kLeastTime}};
  for (auto [name, s] : strategies) {
    benchmark::RegisterBenchmark((std::string("BM_Pick/") + name).c_str(),
                                 [s = s](benchmark::State& st) { pick<false>(st, s); })
        ->Arg(2)->Arg(100)->Arg(10000);
    benchmark::RegisterBenchmark((std::string("BM_PickHealthy/") + name).c_str(),
                                 [s = s](benchmark::State& st) { pick<true>(st, s); })
        ->Arg(2)->Arg(100)->Arg(10000);
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
