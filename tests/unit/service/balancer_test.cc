// The pickers of every strategy over 10,000 picks: shares match the weights within a stated
// tolerance, unhealthy / excluded targets are never picked, and the load-aware strategies react
// to load.
#include "service/balancer.h"

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "service/health.h"

namespace turnpike::service {
namespace {

constexpr int kPicks = 10000;

std::vector<std::string> keys(size_t n) {
  std::vector<std::string> k;
  for (size_t i = 0; i < n; ++i) k.push_back("http://10.0.0." + std::to_string(i + 1) + ":80");
  return k;
}

// Picks kPicks times (hrw with a different client each time) and returns the counts. leasttime
// is a load-aware strategy: it runs with 32 requests in flight (the oldest ends when a new one
// starts), all servers equally fast, which is where Traefik's score (time x (1 + in flight) /
// weight) shares by weight; one request at a time would always pick the heaviest server.
std::vector<int> distribution(Strategy s, const std::vector<int>& weights) {
  Balancer b(s, weights, keys(weights.size()), 1);
  std::vector<int> counts(weights.size(), 0);
  std::deque<size_t> in_flight;
  size_t window = s == Strategy::kLeastTime ? 32 : 0;
  for (int n = 0; n < kPicks; ++n) {
    uint64_t client = hash64("client-" + std::to_string(n));
    auto i = b.pick(0, client);
    EXPECT_TRUE(i.has_value());
    b.started(0, *i);
    b.first_byte(0, *i, std::chrono::milliseconds(5));
    in_flight.push_back(*i);
    while (in_flight.size() > window) {
      b.ended(0, in_flight.front());
      in_flight.pop_front();
    }
    ++counts[*i];
  }
  return counts;
}

struct Case {
  Strategy strategy;
  double tolerance;  // absolute, as a share of all picks
};

class Distribution : public ::testing::TestWithParam<Case> {};

// wrr is exact up to rounding; leasttime under load follows the weights up to the granularity of
// the in-flight window (32 requests: 1/32 ~ 3 %, tolerance 4 %); p2c and hrw are random draws:
// 10,000 picks give a standard deviation of at most 0.5 % per share, and the tolerance is 3 %
// (6 sigma).
TEST_P(Distribution, SharesFollowWeights) {
  const std::vector<std::vector<int>> weight_sets = {{1, 1}, {3, 1}, {5, 3, 2}, {1, 1, 1, 1, 6}};
  for (const auto& weights : weight_sets) {
    auto counts = distribution(GetParam().strategy, weights);
    int total = 0;
    for (int w : weights) total += w;
    for (size_t i = 0; i < weights.size(); ++i) {
      double expected = double(weights[i]) / total;
      double got = double(counts[i]) / kPicks;
      EXPECT_NEAR(got, expected, GetParam().tolerance)
          << strategy_name(GetParam().strategy) << " target " << i << " of " << weights.size();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Strategies, Distribution,
                         ::testing::Values(Case{Strategy::kWrr, 0.001},
                                           Case{Strategy::kLeastTime, 0.04},
                                           Case{Strategy::kP2c, 0.03},
                                           Case{Strategy::kHrw, 0.03}),
                         [](const auto& info) {
                           return std::string(strategy_name(info.param.strategy));
                         });

TEST(Balancer, WrrInterleavesSmoothly) {
  Balancer b(Strategy::kWrr, {5, 1, 1}, {}, 1);
  std::string seq;
  for (int n = 0; n < 7; ++n) seq += char('a' + *b.pick(0));
  EXPECT_EQ(seq, "aabacaa");
}

TEST(Balancer, NeverPicksWhatTheCallerRefuses) {
  for (auto s : {Strategy::kWrr, Strategy::kP2c, Strategy::kHrw, Strategy::kLeastTime}) {
    Balancer b(s, {1, 1, 1, 1}, keys(4), 2);
    for (int n = 0; n < 1000; ++n) {
      auto i = b.pick(n % 2, hash64(std::to_string(n)), [](size_t i) { return i != 1 && i != 2; });
      ASSERT_TRUE(i.has_value());
      EXPECT_TRUE(*i == 0 || *i == 3) << strategy_name(s);
    }
    EXPECT_FALSE(b.pick(0, 0, [](size_t) { return false; }).has_value()) << strategy_name(s);
  }
}

TEST(Balancer, WrrSharesStayExactAmongTheRemainingTargets) {
  Balancer b(Strategy::kWrr, {3, 1, 2}, {}, 1);
  std::vector<int> counts(3, 0);
  for (int n = 0; n < 4000; ++n) ++counts[*b.pick(0, 0, [](size_t i) { return i != 2; })];
  EXPECT_EQ(counts[0], 3000);
  EXPECT_EQ(counts[1], 1000);
  EXPECT_EQ(counts[2], 0);
}

TEST(Balancer, P2cAvoidsTheBusyTarget) {
  Balancer b(Strategy::kP2c, {1, 1}, {}, 1);
  for (int n = 0; n < 50; ++n) b.started(0, 0);  // 50 requests stuck on target 0
  int to_busy = 0;
  for (int n = 0; n < kPicks; ++n) {
    size_t i = *b.pick(0);
    if (i == 0) ++to_busy;
  }
  // Only when both draws hit target 0 (1/4 of the time, both draws equal means one candidate).
  EXPECT_LT(to_busy, kPicks * 0.3);
}

TEST(Balancer, LeastTimePrefersTheFastTarget) {
  Balancer b(Strategy::kLeastTime, {1, 1}, {}, 1);
  b.first_byte(0, 0, std::chrono::milliseconds(50));
  b.first_byte(0, 1, std::chrono::milliseconds(5));
  int fast = 0;
  for (int n = 0; n < 100; ++n) fast += *b.pick(0) == 1;
  EXPECT_EQ(fast, 100);
}

TEST(Balancer, HrwKeepsAClientOnItsTargetAndMovesFewWhenOneGoes) {
  Balancer b(Strategy::kHrw, {1, 1, 1, 1}, keys(4), 1);
  int moved = 0, stayed_off = 0;
  for (int n = 0; n < kPicks; ++n) {
    uint64_t client = hash64("c" + std::to_string(n));
    size_t first = *b.pick(0, client);
    EXPECT_EQ(*b.pick(0, client), first);
    size_t without3 = *b.pick(0, client, [](size_t i) { return i != 3; });
    if (first != 3 && without3 != first) ++moved;
    if (first == 3) ++stayed_off;
  }
  EXPECT_EQ(moved, 0);  // only the clients of the removed target move
  EXPECT_NEAR(stayed_off, kPicks / 4, kPicks * 0.03);
}

TEST(ServiceHealth, PassiveEjectionAfterMaxFailedAttemptsWithinTheWindow) {
  ServiceHealth h({"a", "b"});
  PassiveHealthOptions o;
  o.failure_window = std::chrono::seconds(10);
  o.max_failed_attempts = 3;
  int64_t t = 1'000'000'000'000;
  EXPECT_FALSE(h.record_failure(0, t, o));
  EXPECT_FALSE(h.record_failure(0, t + 1, o));
  EXPECT_TRUE(h.up(0, t + 2));
  EXPECT_TRUE(h.record_failure(0, t + 2, o));
  EXPECT_FALSE(h.up(0, t + 3));
  EXPECT_TRUE(h.up(1, t + 3));
  EXPECT_TRUE(h.any_up(t + 3));
  EXPECT_TRUE(h.up(0, t + 2 + 10'000'000'000));  // back after failureWindow
  // Failures further apart than the window never add up.
  ServiceHealth g({"a"});
  for (int n = 0; n < 10; ++n) EXPECT_FALSE(g.record_failure(0, t + n * 11'000'000'000ll, o));
}

TEST(HealthRegistry, KeepsStateAcrossBuildsForServersThatStay) {
  HealthRegistry r;
  auto t1 = r.get("s@file", {"a", "b"});
  t1->set_active(1, false);
  r.end_build();
  auto t2 = r.get("s@file", {"a", "b"});
  EXPECT_EQ(t1, t2);
  r.end_build();
  auto t3 = r.get("s@file", {"b", "c"});
  EXPECT_NE(t2, t3);
  EXPECT_FALSE(t3->active_up(0));  // b kept its state
  EXPECT_TRUE(t3->active_up(1));
}

}  // namespace
}  // namespace turnpike::service
