#include <gtest/gtest.h>

#include <chrono>

#include "harness.h"
#include "middleware/rate_limit.h"

namespace turnpike::middleware {
namespace {

using testing::build;
using testing::make_request;
using testing::serve;

constexpr int64_t kMs = 1'000'000;

struct Step {
  int64_t at_ms;
  std::string source;
  bool allowed;
  int64_t delay_ms;  // the wait (allowed) or the wait it would have had (refused)
};

void run_steps(RateBuckets& buckets, const std::vector<Step>& steps) {
  for (size_t i = 0; i < steps.size(); ++i) {
    SCOPED_TRACE("step " + std::to_string(i));
    const auto d = buckets.reserve(steps[i].source, steps[i].at_ms * kMs);
    EXPECT_EQ(d.allowed, steps[i].allowed);
    EXPECT_EQ(d.delay_ns, steps[i].delay_ms * kMs);
  }
}

TEST(RateBuckets, DelayOrRefuse) {
  // average 10/s, burst 1: a token every 100ms, maxDelay 50ms.
  RateBuckets b(100 * kMs, 1, 50 * kMs);
  run_steps(b, {
      {0, "a", true, 0},
      {0, "a", false, 100},    // would wait 100ms > 50ms: refused, takes nothing
      {0, "b", true, 0},       // another source has its own bucket
      {60, "a", true, 40},     // waits 40ms for its token
      {60, "a", false, 140},
      {300, "a", true, 0},     // the bucket refilled (one token max)
      {300, "a", false, 100},
  });
}

TEST(RateBuckets, Burst) {
  RateBuckets b(100 * kMs, 3, 50 * kMs);
  run_steps(b, {
      {0, "a", true, 0},
      {0, "a", true, 0},
      {0, "a", true, 0},
      {0, "a", false, 100},
      {100, "a", true, 0},     // one token came back
      {100, "a", false, 100},
      {1000, "a", true, 0},    // full again: three
      {1000, "a", true, 0},
      {1000, "a", true, 0},
      {1000, "a", false, 100},
  });
}

TEST(RateBuckets, SourcesAreBounded) {
  RateBuckets b(kMs, 1, 0);
  for (int i = 0; i < 70000; ++i) b.reserve("s" + std::to_string(i), 0);
  EXPECT_LE(b.size(), RateBuckets::kMaxSources);
  EXPECT_GT(b.size(), RateBuckets::kMaxSources / 2);
}

TEST(RateLimit, MaxDelayLikeTraefik) {
  struct Case {
    int64_t average;
    std::chrono::nanoseconds period;
    int64_t interval_ms, max_delay_ms;
  };
  for (const auto& c : std::vector<Case>{
           {10, std::chrono::seconds(1), 100, 50},
           {1, std::chrono::seconds(1), 1000, 500},
           {30, std::chrono::minutes(1), 2000, 500},  // below one per second: 500ms
           {100, std::chrono::seconds(1), 10, 5},
       }) {
    RateLimitOptions o;
    o.average = c.average;
    o.period = c.period;
    EXPECT_EQ(o.interval_ns(), c.interval_ms * kMs) << c.average;
    EXPECT_EQ(o.max_delay_ns(), c.max_delay_ms * kMs) << c.average;
  }
}

TEST(RateLimit, GoDurationString) {
  EXPECT_EQ(go_duration_string(0), "0s");
  EXPECT_EQ(go_duration_string(100 * kMs), "100ms");
  EXPECT_EQ(go_duration_string(1500 * kMs), "1.5s");
  EXPECT_EQ(go_duration_string(61500 * kMs), "1m1.5s");
  EXPECT_EQ(go_duration_string(3600'000 * kMs), "1h0m0s");
  EXPECT_EQ(go_duration_string(800'000), "800\u00b5s");
  EXPECT_EQ(go_duration_string(1'250'000), "1.25ms");
  EXPECT_EQ(go_duration_string(42), "42ns");
}

TEST(RateLimit, RefusesWith429AndRetryHeaders) {
  auto b = build("rateLimit", "average: 1\nperiod: 10s\nburst: 2");
  ASSERT_TRUE(b) << b.error_text();
  for (int i = 0; i < 2; ++i) {
    auto req = make_request("GET", "/");
    EXPECT_EQ(serve(*b.handler, req).status, 200);
  }
  auto req = make_request("GET", "/");
  auto out = serve(*b.handler, req);
  EXPECT_EQ(out.status, 429);
  EXPECT_EQ(out.body, "Too Many Requests");
  // The next token is ~10s away.
  EXPECT_EQ(out.header("Retry-After"), "10");
  EXPECT_TRUE(out.header("X-Retry-In").starts_with("9.") || out.header("X-Retry-In") == "10s")
      << out.header("X-Retry-In");
  EXPECT_EQ(b.terminal->calls, 2);
  // Another client is not affected.
  req = make_request("GET", "/");
  req.client_addr = boost::asio::ip::make_address("198.51.100.1");
  EXPECT_EQ(serve(*b.handler, req).status, 200);
}

TEST(RateLimit, ShortWaitIsDelayedNotRefused) {
  // 10/s, burst 1: the second immediate request waits for its token (<= 50ms) on a timer.
  auto b = build("rateLimit", "average: 10\nburst: 1\nsourceCriterion: {requestHeaderName: X-K}");
  ASSERT_TRUE(b) << b.error_text();
  auto req = make_request("GET", "/");
  req.headers.set("X-K", "k");
  EXPECT_EQ(serve(*b.handler, req).status, 200);
  // Make the wait short enough: 60ms after the first request the next token is 40ms away.
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(60)) {
  }
  const auto t0 = std::chrono::steady_clock::now();
  req = make_request("GET", "/");
  req.headers.set("X-K", "k");
  EXPECT_EQ(serve(*b.handler, req).status, 200);
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, std::chrono::milliseconds(25));
  EXPECT_EQ(b.terminal->calls, 2);
}

TEST(RateLimit, AverageZeroIsNoLimit) {
  auto b = build("rateLimit", "{}");
  ASSERT_TRUE(b) << b.error_text();
  for (int i = 0; i < 20; ++i) {
    auto req = make_request("GET", "/");
    EXPECT_EQ(serve(*b.handler, req).status, 200);
  }
}

TEST(RateLimit, RedisOptionsDecode) {
  // Traefik 3.4's redis section; nothing is contacted while the configuration is built.
  auto b = build("rateLimit",
                 "average: 5\nredis:\n  endpoints: ['127.0.0.1:1']\n  username: u\n"
                 "  password: p\n  db: 2\n  poolSize: 10\n  minIdleConns: 1\n"
                 "  maxActiveConns: 20\n  readTimeout: 1s\n  writeTimeout: 1s\n"
                 "  dialTimeout: 2s\n");
  EXPECT_TRUE(b) << b.error_text();
}

TEST(DistributedRateLimit, Decode) {
  auto b = build("distributedRateLimit",
                 "limit: 10\nperiod: 1m\nburst: 5\ndenyOnError: true\nresponseHeaders: true\n"
                 "sourceCriterion: {requestHeaderName: X-Key}\n"
                 "store: {redis: {endpoints: ['127.0.0.1:1'], database: 3, timeout: 500ms}}\n");
  EXPECT_TRUE(b) << b.error_text();
  testing::expect_decode_error("distributedRateLimit", "limit: 1",
                               "distributedRateLimit.store: is required");
  testing::expect_decode_error("distributedRateLimit", "limit: 1\nstore: {}",
                               "distributedRateLimit.store.redis: is required");
  testing::expect_decode_error(
      "distributedRateLimit", "limit: 1\nstore: {redis: {endpoints: ['a:1'], cluster: {}}}",
      "distributedRateLimit.store.redis.cluster: Redis Cluster is not supported");
  testing::expect_decode_error("distributedRateLimit",
                               "limit: -1\nstore: {redis: {endpoints: ['a:1']}}",
                               "distributedRateLimit.limit: must not be negative");
  testing::expect_decode_error("distributedRateLimit",
                               "limit: 1\naverage: 1\nstore: {redis: {endpoints: ['a:1']}}",
                               "distributedRateLimit.average");
}

TEST(RateLimit, Errors) {
  testing::expect_decode_error("rateLimit", "average: -1", "rateLimit.average: must not be negative");
  testing::expect_decode_error("rateLimit", "average: 1\nperiod: -1s", "rateLimit.period");
  testing::expect_decode_error("rateLimit", "average: 1\nperiod: soon", "rateLimit.period");
  testing::expect_decode_error("rateLimit", "average: 1\nredis: {}",
                               "rateLimit.redis.endpoints: at least one is required");
  testing::expect_decode_error("rateLimit",
                               "average: 1\nredis: {endpoints: ['127.0.0.1:6379'], database: 1}",
                               "rateLimit.redis.database");
  testing::expect_decode_error("rateLimit",
                               "average: 1\nredis: {endpoints: ['127.0.0.1:6379'], db: -1}",
                               "rateLimit.redis.db: must not be negative");
  testing::expect_decode_error("rateLimit", "average: 1\nrate: 2", "rateLimit.rate");
}

}  // namespace
}  // namespace turnpike::middleware
