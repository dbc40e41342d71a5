#include "middleware/rate_limit.h"

#include <algorithm>
#include <cmath>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/asio_types.h"
#include "common/log.h"
#include "middleware/decode_support.h"
#include "middleware/local_reply.h"

namespace turnpike::middleware {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

// "int.frac" with `digits` fractional digits, trailing zeros (and a bare '.') removed.
std::string fixed(int64_t v, int digits) {
  int64_t scale = 1;
  for (int i = 0; i < digits; ++i) scale *= 10;
  std::string out = std::to_string(v / scale);
  int64_t frac = v % scale;
  if (frac == 0) return out;
  std::string f = std::to_string(frac);
  f.insert(0, static_cast<size_t>(digits) - f.size(), '0');
  while (!f.empty() && f.back() == '0') f.pop_back();
  return out + "." + f;
}

}  // namespace

std::string go_duration_string(int64_t ns) {
  if (ns == 0) return "0s";
  std::string sign;
  if (ns < 0) {
    sign = "-";
    ns = -ns;
  }
  if (ns < 1000) return sign + std::to_string(ns) + "ns";
  if (ns < 1'000'000) return sign + fixed(ns, 3) + "\u00b5s";
  if (ns < kSecond) return sign + fixed(ns, 6) + "ms";
  const int64_t hours = ns / (3600 * kSecond);
  ns %= 3600 * kSecond;
  const int64_t minutes = ns / (60 * kSecond);
  ns %= 60 * kSecond;
  std::string out = sign;
  if (hours > 0) out += std::to_string(hours) + "h";
  if (hours > 0 || minutes > 0) out += std::to_string(minutes) + "m";
  return out + fixed(ns, 9) + "s";
}

RateBuckets::RateBuckets(int64_t interval_ns, int64_t burst, int64_t max_delay_ns)
    : interval_ns_(interval_ns),
      tolerance_ns_((burst - 1) > INT64_MAX / std::max<int64_t>(interval_ns, 1)
                        ? INT64_MAX / 4
                        : (burst - 1) * interval_ns),
      max_delay_ns_(max_delay_ns) {}

RateBuckets::Decision RateBuckets::reserve(std::string_view source, int64_t now_ns) {
  Shard& shard = shards_[hash_(source) % kShards];
  std::lock_guard lock(shard.mutex);
  auto it = shard.tat.find(std::string(source));
  const int64_t tat = it == shard.tat.end() ? now_ns : std::max(it->second, now_ns);
  const int64_t next = tat + interval_ns_;
  // The token is available once the bucket, full at `next`, is down to burst tokens at most.
  const int64_t delay = std::max<int64_t>(0, next - now_ns - interval_ns_ - tolerance_ns_);
  if (delay > max_delay_ns_) return {false, delay};
  if (it != shard.tat.end()) {
    it->second = next;
  } else {
    if (shard.tat.size() >= kMaxSources / kShards) make_room(shard, now_ns);
    shard.tat.emplace(std::string(source), next);
  }
  return {true, delay};
}

void RateBuckets::make_room(Shard& shard, int64_t now_ns) {
  // Full buckets first: dropping them changes nothing.
  std::erase_if(shard.tat, [&](const auto& e) { return e.second <= now_ns; });
  if (shard.tat.size() >= kMaxSources / kShards) shard.tat.erase(shard.tat.begin());
}

size_t RateBuckets::size() const {
  size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    n += s.tat.size();
  }
  return n;
}

int64_t RateLimitOptions::interval_ns() const {
  // period / average, at least 1ns so that a huge rate still advances time.
  return std::max<int64_t>(1, period.count() / average);
}

int64_t RateLimitOptions::max_delay_ns() const {
  // Traefik: rtl = average per second; maxDelay = 1s / (2 * int(rtl)), or 500ms when rtl < 1.
  const double per_second =
      static_cast<double>(average) * kSecond / static_cast<double>(period.count());
  if (per_second < 1) return 500'000'000;
  return kSecond / (static_cast<int64_t>(per_second) * 2);
}

RateLimit::RateLimit(std::shared_ptr<const RateLimitOptions> options,
                     std::shared_ptr<RateBuckets> buckets,
                     std::shared_ptr<const RedisRateLimiter> redis, HandlerPtr next)
    : options_(std::move(options)),
      buckets_(std::move(buckets)),
      redis_(std::move(redis)),
      next_(std::move(next)) {}

http::Task<void> RateLimit::handle(http::Exchange& ex) const {
  std::string source;
  options_->criterion.source(ex.request, source);
  RateBuckets::Decision decision;
  if (redis_) {
    auto d = co_await redis_->reserve(std::move(source));
    if (!d.ok) {
      log::get("ratelimit")->error("rateLimit: could not insert/update bucket: {}", d.error);
      co_await reply(ex, 500, "Could not insert/update bucket");
      co_return;
    }
    decision = {d.allowed, d.delay_ns};
  } else {
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    decision = buckets_->reserve(source, now);
  }
  if (!decision.allowed) {
    http::HeaderMap headers;
    const double seconds = static_cast<double>(decision.delay_ns) / kSecond;
    headers.set("Retry-After", std::to_string(static_cast<int64_t>(std::ceil(seconds))));
    headers.set("X-Retry-In", go_duration_string(decision.delay_ns));
    headers.set("Content-Type", "text/plain; charset=utf-8");
    co_await reply(ex, 429, status_text(429), &headers);
    co_return;
  }
  if (decision.delay_ns > 0) {
    auto executor = co_await boost::asio::this_coro::executor;
    turnpike::SteadyTimer timer(executor);
    timer.expires_after(std::chrono::nanoseconds(decision.delay_ns));
    auto [ec] = co_await timer.async_wait(boost::asio::as_tuple(turnpike::use_task));
    (void)ec;  // cancelled only when the worker stops: serve anyway, the connection decides
  }
  co_await next_->handle(ex);
}

void decode_rate_options(config::Decoder& dec, std::string_view count_key, RateLimitOptions& opts) {
  Duration period{0};
  if (dec.get(count_key, opts.average) && opts.average < 0)
    dec.fail(count_key, "must not be negative");
  if (dec.get("period", period)) {
    if (period.count() < 0) dec.fail("period", "must not be negative");
    if (period.count() > 0) opts.period = period;
  }
  dec.get("burst", opts.burst);
  if (opts.burst < 1) opts.burst = 1;  // Traefik's default and floor
  opts.criterion = SourceCriterion::decode(dec, "sourceCriterion");
}

Wrap build_rate_limit(config::Decoder& dec, BuildContext& ctx) {
  ErrorMark mark(dec);
  auto opts = std::make_shared<RateLimitOptions>();
  decode_rate_options(dec, "average", *opts);
  std::optional<kv::RedisOptions> redis = decode_redis_options(dec, "redis", /*hub=*/false);
  const bool has_redis = dec.node().find("redis") != nullptr;
  dec.finish();
  if (!mark.clean() || (has_redis && !redis)) return {};
  if (opts->average == 0) return [](HandlerPtr next) { return next; };  // no limit (Traefik)
  std::shared_ptr<const RedisRateLimiter> limiter;
  if (redis) {
    limiter = shared_redis_limiter(dec, "redis", ctx, std::move(*redis), opts->interval_ns(),
                                   opts->burst, opts->max_delay_ns());
    if (!limiter) return {};
  }
  return [opts = std::shared_ptr<const RateLimitOptions>(std::move(opts)), limiter,
          slot = ctx.state_slot()](HandlerPtr next) -> HandlerPtr {
    std::shared_ptr<RateBuckets> buckets;
    if (!limiter) {
      buckets = slot.get<RateBuckets>([&] {
        return std::make_shared<RateBuckets>(opts->interval_ns(), opts->burst,
                                             opts->max_delay_ns());
      });
    }
    return std::make_shared<const RateLimit>(opts, std::move(buckets), limiter, std::move(next));
  };
}

}  // namespace turnpike::middleware
