#include <gtest/gtest.h>

#include <thread>

#include "harness.h"
#include "middleware/circuit_breaker.h"

namespace turnpike::middleware {
namespace {

using testing::make_request;
using namespace std::chrono_literals;

int get(const testing::Built& b) {
  auto req = make_request("GET", "/");
  return testing::serve(*b.handler, req).status;
}

// Polls `pred` every 5ms for up to `limit`.
template <class Pred> bool eventually(Pred pred, std::chrono::milliseconds limit = 3000ms) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred())
      return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

TEST(CircuitBreaker, OpensFastFailsRecoversAndCloses) {
  auto b = testing::build("circuitBreaker",
                          "expression: \"ResponseCodeRatio(500, 600, 0, 600) > 0.5\"\n"
                          "checkPeriod: 10ms\nfallbackDuration: 300ms\nrecoveryDuration: 300ms\n");
  ASSERT_TRUE(b) << b.error_text();
  b.terminal->status = 500;
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(get(b), 500);
  // The next check trips the breaker; from then on nothing reaches the service.
  ASSERT_TRUE(eventually([&] { return get(b) == 503; }));
  const auto opened = std::chrono::steady_clock::now();
  const int calls = b.terminal->calls;
  b.terminal->status = 200;
  auto req = make_request("GET", "/");
  auto out = testing::serve(*b.handler, req);
  EXPECT_EQ(out.status, 503);
  EXPECT_EQ(out.body, "Service Unavailable");
  EXPECT_EQ(b.terminal->calls, calls);
  // Recovering: requests get through again, no sooner than fallbackDuration.
  ASSERT_TRUE(eventually([&] { return get(b) == 200; }));
  EXPECT_GE(std::chrono::steady_clock::now() - opened, 250ms);
  // Closed: every request goes through.
  ASSERT_TRUE(eventually([&] {
    for (int i = 0; i < 20; ++i)
      if (get(b) != 200)
        return false;
    return true;
  }));
}

TEST(CircuitBreaker, RequestThresholdIgnoresTinySamples) {
  auto b = testing::build("circuitBreaker",
                          "expression: \"RequestThreshold() > 20 && "
                          "ResponseCodeRatio(500, 600, 0, 600) > 0.5\"\ncheckPeriod: 1ms\n");
  ASSERT_TRUE(b) << b.error_text();
  b.terminal->status = 500;
  // Ten failures out of ten: the ratio holds, but the sample is too small to trip on.
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(get(b), 500);
    std::this_thread::sleep_for(2ms);  // a check is due before each next request
  }
  EXPECT_EQ(b.terminal->calls, 10);
  // Past 20 requests in the window the same ratio opens the breaker.
  for (int i = 0; i < 11; ++i)
    EXPECT_EQ(get(b), 500);
  ASSERT_TRUE(eventually([&] { return get(b) == 503; }));
}

TEST(CircuitBreaker, RequestThresholdCountsTheWindow) {
  RollingMetrics m;
  const int64_t t0 = 100'000'000'000;
  EXPECT_EQ(m.requests(t0), 0u);
  for (int i = 0; i < 5; ++i)
    m.record(t0, 200, false, 1000);
  m.record(t0 + 3'000'000'000, 502, true, 1000);
  EXPECT_EQ(m.requests(t0 + 3'000'000'000), 6u);
  // Ten seconds later the first second has left the window.
  EXPECT_EQ(m.requests(t0 + 10'500'000'000), 1u);
  m.reset();
  EXPECT_EQ(m.requests(t0 + 10'500'000'000), 0u);
}

TEST(CircuitBreaker, CustomResponseCodeAndNetworkErrors) {
  auto b = testing::build("circuitBreaker",
                          "expression: \"NetworkErrorRatio() > 0.3\"\ncheckPeriod: 1ms\n"
                          "responseCode: 418\n");
  ASSERT_TRUE(b) << b.error_text();
  b.terminal->status = 502; // an upstream's own 502 is not a network error...
  for (int i = 0; i < 5; ++i)
    get(b);
  std::this_thread::sleep_for(3ms);
  EXPECT_EQ(get(b), 502);
}

TEST(CircuitBreaker, MetricsWindow) {
  RollingMetrics m;
  const int64_t t = 100'000'000'000;
  for (int i = 0; i < 3; ++i)
    m.record(t, 200, false, 1'000'000);
  m.record(t, 503, true, 100'000'000);
  EXPECT_DOUBLE_EQ(m.network_error_ratio(t), 0.25);
  EXPECT_DOUBLE_EQ(m.response_code_ratio(t, 500, 600, 0, 600), 0.25);
  EXPECT_DOUBLE_EQ(m.response_code_ratio(t, 500, 600, 600, 700), 0);
  EXPECT_NEAR(m.latency_at_quantile_ms(t, 50), 1.0, 0.25);
  EXPECT_NEAR(m.latency_at_quantile_ms(t, 99), 100, 25);
  // Ten seconds later the window has moved past them.
  EXPECT_DOUBLE_EQ(m.network_error_ratio(t + 10'000'000'000), 0);
  EXPECT_DOUBLE_EQ(m.network_error_ratio(t + 9'000'000'000), 0.25);
}

TEST(CircuitBreaker, DecodeErrors) {
  testing::expect_decode_error("circuitBreaker", "checkPeriod: 1s\n",
                               "circuitBreaker.expression: is required");
  testing::expect_decode_error("circuitBreaker", "expression: \"Latency() > 1\"\n",
                               "unknown function Latency");
  testing::expect_decode_error("circuitBreaker",
                               "expression: \"NetworkErrorRatio() > 0.5\"\nresponseCode: 99\n",
                               "circuitBreaker.responseCode");
}

} // namespace
} // namespace turnpike::middleware
