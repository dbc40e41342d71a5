#pragma once
// circuitBreaker (Traefik's CircuitBreaker, vulcand/oxy's cbreaker): stops sending requests to a
// service whose recent responses meet a condition, answers them itself meanwhile, then lets
// traffic back in gradually.
//
//   http.middlewares.<name>.circuitBreaker:
//     expression: "NetworkErrorRatio() > 0.5 || ResponseCodeRatio(500, 600, 0, 600) > 0.25"
//     checkPeriod: 100ms       # how often the expression is evaluated
//     fallbackDuration: 10s    # how long the breaker stays open
//     recoveryDuration: 10s    # how long the ramp back to full traffic takes
//     responseCode: 503        # the status answered while open
//
// States: closed (every request goes through and is measured; every checkPeriod the expression
// is evaluated over the last 10 seconds and, when it holds, the breaker opens), open (every
// request is answered `responseCode` with its status text, nothing reaches the service, for
// fallbackDuration), recovering (a share of requests growing linearly from 0 to 100 % over
// recoveryDuration goes through and is measured, the others get the fallback answer; if the
// expression holds again the breaker opens again, otherwise it closes at the end). Measurements
// restart when recovery starts and when the breaker closes.
//
// Expression functions (predicate.h for the language):
//   NetworkErrorRatio()                      share of responses that were network errors (the
//                                            gateway's 502/504: unreachable, broken, timed out)
//   ResponseCodeRatio(from, to, dFrom, dTo)  responses with a status in [from, to) divided by
//                                            those in [dFrom, dTo); 0 when there are none
//   LatencyAtQuantileMS(q)                   the q-th percentile (q in 0..100) of the time to
//                                            serve, in milliseconds (about 19 % resolution)
//   RequestThreshold()                       the number of requests measured in the window (the
//                                            last 10 s, or since recovery started / the breaker
//                                            closed), so that `RequestThreshold() > 20 &&
//                                            NetworkErrorRatio() > 0.5` ignores tiny samples
//
// Each router that uses the middleware has its own breaker (as in Traefik). The state and the
// measurements are shared by every worker and updated with atomic operations only: the rolling
// window is ten one-second buckets of counters, a bucket being cleared by the first worker that
// enters a new second in it.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "common/duration.h"
#include "middleware/middleware.h"
#include "middleware/predicate.h"

namespace turnpike::middleware {

struct CircuitBreakerOptions {
  Predicate expression;
  Duration check_period = std::chrono::milliseconds(100);
  Duration fallback_duration = std::chrono::seconds(10);
  Duration recovery_duration = std::chrono::seconds(10);
  int response_code = 503;
};

// The rolling measurements. Any thread.
class RollingMetrics {
public:
  static constexpr int kBuckets = 10;        // seconds in the window
  static constexpr int kLatencyBuckets = 96; // 2^(i/4) microseconds: up to ~16 minutes

  void record(int64_t now_ns, int status, bool network_error, int64_t latency_ns);
  void reset();

  double network_error_ratio(int64_t now_ns) const;
  uint64_t requests(int64_t now_ns) const;  // requests recorded in the window
  double response_code_ratio(int64_t now_ns, int from, int to, int div_from, int div_to) const;
  double latency_at_quantile_ms(int64_t now_ns, double quantile) const;

private:
  struct Bucket {
    std::atomic<int64_t> second{-1};
    std::atomic<uint32_t> total{0};
    std::atomic<uint32_t> network_errors{0};
    std::array<std::atomic<uint32_t>, 500> codes{}; // status 100..599
    std::array<std::atomic<uint32_t>, kLatencyBuckets> latency{};
  };
  Bucket& bucket_for(int64_t second);
  bool live(const Bucket& b, int64_t now_second) const;

  std::array<Bucket, kBuckets> buckets_;
};

// The breaker's state machine. Any thread.
class BreakerState {
public:
  enum class State { kClosed, kOpen, kRecovering };
  explicit BreakerState(std::shared_ptr<const CircuitBreakerOptions> options);

  // Whether this request may go to the service (evaluates the expression when a check is due).
  bool admit(int64_t now_ns);
  void record(int64_t now_ns, int status, bool network_error, int64_t latency_ns);
  State state(int64_t now_ns);

private:
  bool tripped(int64_t now_ns) const;
  void open(int64_t now_ns);

  std::shared_ptr<const CircuitBreakerOptions> options_;
  RollingMetrics metrics_;
  std::atomic<int> state_{0};
  std::atomic<int64_t> until_ns_{0}; // end of open / recovering
  std::atomic<int64_t> next_check_ns_{0};
  std::atomic<uint64_t> allowed_{0}; // recovering: requests let through...
  std::atomic<uint64_t> denied_{0};  // ...and refused
};

class CircuitBreaker final : public http::Handler {
public:
  CircuitBreaker(std::shared_ptr<const CircuitBreakerOptions> options, HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

private:
  std::shared_ptr<const CircuitBreakerOptions> options_;
  std::unique_ptr<BreakerState> state_;
  HandlerPtr next_;
};

// Factory registered as "circuitBreaker".
Wrap build_circuit_breaker(config::Decoder& dec, BuildContext& ctx);

} // namespace turnpike::middleware
