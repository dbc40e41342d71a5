#include "middleware/circuit_breaker.h"

#include <algorithm>
#include <cmath>

#include "http/head_editor.h"
#include "middleware/decode_support.h"
#include "middleware/local_reply.h"
#include "middleware/status_ranges.h"

namespace turnpike::middleware {
namespace {

constexpr int64_t kSecondNs = 1'000'000'000;

// The expression's functions, in the order Resolve receives their index.
constexpr std::array<Predicate::Function, 4> kFunctions{{
    {"NetworkErrorRatio", 0, false},
    {"ResponseCodeRatio", 4, false},
    {"LatencyAtQuantileMS", 1, false},
    {"RequestThreshold", 0, false},
}};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Histogram bucket of a latency: 4 buckets per doubling of microseconds.
int latency_bucket(int64_t latency_ns) {
  const double us = std::max<double>(1.0, static_cast<double>(latency_ns) / 1000.0);
  const int b = static_cast<int>(std::floor(std::log2(us) * 4));
  return std::clamp(b, 0, RollingMetrics::kLatencyBuckets - 1);
}

// Upper bound of a latency bucket, in milliseconds.
double bucket_ms(int b) {
  return std::exp2((b + 1) / 4.0) / 1000.0;
}

bool network_failure(http::ProxyError::Kind k) {
  using K = http::ProxyError::Kind;
  return k == K::kUpstreamConnect || k == K::kUpstreamClosed || k == K::kUpstreamTimeout ||
         k == K::kUpstreamProtocol;
}

} // namespace

RollingMetrics::Bucket& RollingMetrics::bucket_for(int64_t second) {
  Bucket& b = buckets_[static_cast<size_t>(second % kBuckets)];
  int64_t seen = b.second.load(std::memory_order_acquire);
  if (seen != second && b.second.compare_exchange_strong(seen, second)) {
    // This worker moved the bucket to a new second: clear what it counted ten seconds ago.
    // Records racing with the clear may be lost, which a rolling ratio tolerates.
    b.total.store(0, std::memory_order_relaxed);
    b.network_errors.store(0, std::memory_order_relaxed);
    for (auto& c : b.codes)
      c.store(0, std::memory_order_relaxed);
    for (auto& l : b.latency)
      l.store(0, std::memory_order_relaxed);
  }
  return b;
}

bool RollingMetrics::live(const Bucket& b, int64_t now_second) const {
  const int64_t s = b.second.load(std::memory_order_acquire);
  return s >= 0 && s > now_second - kBuckets && s <= now_second;
}

void RollingMetrics::record(int64_t now, int status, bool network_error, int64_t latency_ns) {
  Bucket& b = bucket_for(now / kSecondNs);
  b.total.fetch_add(1, std::memory_order_relaxed);
  if (network_error)
    b.network_errors.fetch_add(1, std::memory_order_relaxed);
  if (status >= 100 && status <= 599)
    b.codes[static_cast<size_t>(status - 100)].fetch_add(1, std::memory_order_relaxed);
  b.latency[static_cast<size_t>(latency_bucket(latency_ns))].fetch_add(1,
                                                                       std::memory_order_relaxed);
}

void RollingMetrics::reset() {
  for (auto& b : buckets_)
    b.second.store(-1, std::memory_order_release);
}

double RollingMetrics::network_error_ratio(int64_t now) const {
  uint64_t total = 0, errors = 0;
  for (const auto& b : buckets_) {
    if (!live(b, now / kSecondNs))
      continue;
    total += b.total.load(std::memory_order_relaxed);
    errors += b.network_errors.load(std::memory_order_relaxed);
  }
  return total == 0 ? 0 : static_cast<double>(errors) / static_cast<double>(total);
}

uint64_t RollingMetrics::requests(int64_t now) const {
  uint64_t total = 0;
  for (const auto& b : buckets_)
    if (live(b, now / kSecondNs))
      total += b.total.load(std::memory_order_relaxed);
  return total;
}

double RollingMetrics::response_code_ratio(int64_t now, int from, int to, int div_from,
                                           int div_to) const {
  uint64_t num = 0, den = 0;
  for (const auto& b : buckets_) {
    if (!live(b, now / kSecondNs))
      continue;
    for (int code = 100; code <= 599; ++code) {
      const uint64_t n = b.codes[static_cast<size_t>(code - 100)].load(std::memory_order_relaxed);
      if (code >= from && code < to)
        num += n;
      if (code >= div_from && code < div_to)
        den += n;
    }
  }
  return den == 0 ? 0 : static_cast<double>(num) / static_cast<double>(den);
}

double RollingMetrics::latency_at_quantile_ms(int64_t now, double quantile) const {
  std::array<uint64_t, kLatencyBuckets> sum{};
  uint64_t total = 0;
  for (const auto& b : buckets_) {
    if (!live(b, now / kSecondNs))
      continue;
    for (int i = 0; i < kLatencyBuckets; ++i) {
      sum[static_cast<size_t>(i)] +=
          b.latency[static_cast<size_t>(i)].load(std::memory_order_relaxed);
      total += b.latency[static_cast<size_t>(i)].load(std::memory_order_relaxed);
    }
  }
  if (total == 0)
    return 0;
  const double rank = std::clamp(quantile, 0.0, 100.0) / 100.0 * static_cast<double>(total);
  uint64_t seen = 0;
  for (int i = 0; i < kLatencyBuckets; ++i) {
    seen += sum[static_cast<size_t>(i)];
    if (static_cast<double>(seen) >= rank && seen > 0)
      return bucket_ms(i);
  }
  return bucket_ms(kLatencyBuckets - 1);
}

BreakerState::BreakerState(std::shared_ptr<const CircuitBreakerOptions> options)
    : options_(std::move(options)) {}

bool BreakerState::tripped(int64_t now) const {
  return options_->expression.eval([&](size_t fn, std::span<const Predicate::Arg> a) -> double {
    switch (fn) {
    case 0:
      return metrics_.network_error_ratio(now);
    case 1:
      return metrics_.response_code_ratio(
          now, static_cast<int>(a[0].number), static_cast<int>(a[1].number),
          static_cast<int>(a[2].number), static_cast<int>(a[3].number));
    case 2:
      return metrics_.latency_at_quantile_ms(now, a[0].number);
    default:
      return static_cast<double>(metrics_.requests(now));
    }
  });
}

void BreakerState::open(int64_t now) {
  until_ns_.store(now + options_->fallback_duration.count(), std::memory_order_relaxed);
  state_.store(static_cast<int>(State::kOpen), std::memory_order_release);
}

BreakerState::State BreakerState::state(int64_t now) {
  auto s = static_cast<State>(state_.load(std::memory_order_acquire));
  if (s == State::kClosed || now < until_ns_.load(std::memory_order_relaxed))
    return s;
  // The open or recovering period is over: one thread moves the breaker on.
  int expected = static_cast<int>(s);
  if (s == State::kOpen) {
    if (state_.compare_exchange_strong(expected, static_cast<int>(State::kRecovering))) {
      metrics_.reset();
      allowed_.store(0);
      denied_.store(0);
      until_ns_.store(now + options_->recovery_duration.count(), std::memory_order_relaxed);
      next_check_ns_.store(now + options_->check_period.count(), std::memory_order_relaxed);
    }
  } else if (state_.compare_exchange_strong(expected, static_cast<int>(State::kClosed))) {
    metrics_.reset();
  }
  return static_cast<State>(state_.load(std::memory_order_acquire));
}

bool BreakerState::admit(int64_t now) {
  State s = state(now);
  if (s != State::kOpen) {
    int64_t due = next_check_ns_.load(std::memory_order_relaxed);
    if (now >= due &&
        next_check_ns_.compare_exchange_strong(due, now + options_->check_period.count()) &&
        tripped(now)) {
      open(now);
      return false;
    }
  }
  switch (s) {
  case State::kClosed:
    return true;
  case State::kOpen:
    return false;
  case State::kRecovering:
    break;
  }
  // Let through the share of requests that the ramp allows by now (oxy's ratio controller).
  const int64_t left = until_ns_.load(std::memory_order_relaxed) - now;
  const double target =
      1.0 - static_cast<double>(left) / static_cast<double>(options_->recovery_duration.count());
  const auto a = static_cast<double>(allowed_.load(std::memory_order_relaxed));
  const auto d = static_cast<double>(denied_.load(std::memory_order_relaxed));
  if (a + d == 0 || a / (a + d) <= target) {
    allowed_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  denied_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void BreakerState::record(int64_t now, int status, bool network_error, int64_t latency_ns) {
  metrics_.record(now, status, network_error, latency_ns);
}

CircuitBreaker::CircuitBreaker(std::shared_ptr<const CircuitBreakerOptions> options,
                               HandlerPtr next)
    : options_(options), state_(std::make_unique<BreakerState>(options)), next_(std::move(next)) {}

http::Task<void> CircuitBreaker::handle(http::Exchange& ex) const {
  const int64_t start = now_ns();
  if (!state_->admit(start)) {
    co_await reply(ex, options_->response_code, status_text(options_->response_code));
    co_return;
  }
  int status = 0;
  auto capture = [&status](http::Response& head) { status = head.status; };
  {
    http::HeadEditingWriter<decltype(capture)> writer(*ex.writer, capture);
    http::WriterScope scope(ex, writer);
    co_await next_->handle(ex);
  }
  const int64_t end = now_ns();
  // oxy counts 502/504 answers as network errors; the failure kind tells the gateway's own
  // (the upstream was unreachable, broke or timed out) from an upstream's.
  state_->record(end, status, network_failure(ex.failure), end - start);
}

Wrap build_circuit_breaker(config::Decoder& dec, BuildContext&) {
  ErrorMark mark(dec);
  std::string expression;
  dec.get("expression", expression);
  auto opts = std::make_shared<CircuitBreakerOptions>();
  dec.get_non_negative("checkPeriod", opts->check_period);
  dec.get_non_negative("fallbackDuration", opts->fallback_duration);
  dec.get_non_negative("recoveryDuration", opts->recovery_duration);
  std::string code;
  const bool has_code = dec.get("responseCode", code);
  dec.finish();
  if (expression.empty()) {
    dec.fail("expression", "is required");
  } else if (auto p = Predicate::parse(expression, kFunctions); !p) {
    dec.fail("expression", p.error().message);
  } else {
    opts->expression = std::move(*p);
  }
  if (has_code) {
    auto c = parse_status_code(code);
    if (!c)
      dec.fail("responseCode", "\"" + code + "\" is not a status code");
    else
      opts->response_code = *c;
  }
  // Zero periods would spin or never recover; Traefik's defaults apply instead.
  if (opts->check_period <= Duration::zero())
    opts->check_period = std::chrono::milliseconds(100);
  if (opts->fallback_duration <= Duration::zero())
    opts->fallback_duration = std::chrono::seconds(10);
  if (opts->recovery_duration <= Duration::zero())
    opts->recovery_duration = std::chrono::seconds(10);
  if (!mark.clean())
    return {};
  return [opts = std::shared_ptr<const CircuitBreakerOptions>(std::move(opts))](
             HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const CircuitBreaker>(opts, std::move(next));
  };
}

} // namespace turnpike::middleware
