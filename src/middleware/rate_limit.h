#pragma once
// rateLimit (Traefik's RateLimit): a token bucket per source, in memory.
//
//   http.middlewares.<name>.rateLimit:
//     average: 100            # requests per period; 0 (default) = no limit
//     period: 1s              # default 1s
//     burst: 50               # bucket size, default 1
//     sourceCriterion: {...}  # see source_criterion.h; default: the client's address
//
// Traefik's behaviour (golang.org/x/time/rate reservations): each request takes a token; when the
// bucket is empty the request would have to wait for the next token. If that wait is at most
// maxDelay (half the interval between two tokens, 1/(2*rate), or 500ms when the rate is below one
// per second) the request is delayed by it and then served; otherwise it is answered 429 "Too
// Many Requests" with `Retry-After` (the wait in whole seconds, rounded up) and `X-Retry-In` (the
// wait as a Go duration), and takes no token. A delayed request waits on a timer on its worker;
// the worker keeps serving others.
//
// With a `redis` section (Traefik 3.4: endpoints, username, password, db, tls, readTimeout,
// writeTimeout, dialTimeout; poolSize, minIdleConns, maxActiveConns accepted) the buckets live in
// Redis instead (RedisRateLimiter, distributed_rate_limit.h), shared by every gateway instance
// and every router using the middleware, keyed by the middleware's name and the source; the same
// delay-or-429 rule applies. When Redis cannot decide (unreachable, timeout, error) the request is
// answered 500 "Could not insert/update bucket", as Traefik does.
//
// Buckets are per router that uses the middleware (as in Traefik, each router's chain has its own
// instance); they are shared by every worker (RateBuckets) and survive a reload that leaves the
// middleware's options unchanged (state_store.h), so touching an unrelated router does not refill
// every client's bucket. Changed options start new buckets.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "middleware/distributed_rate_limit.h"
#include "middleware/middleware.h"
#include "middleware/source_criterion.h"

namespace turnpike::middleware {

// The buckets of one rateLimit instance, as GCRA state: per source, the time at which its bucket
// will be full again ("theoretical arrival time"); a source whose time has passed has a full
// bucket, which is the same as having no entry, so entries can be dropped without changing
// behaviour. Shared by every worker: the sources are split over kShards maps, each behind its own
// mutex held for a lookup and a few arithmetic operations (a bucket is two words, key and time,
// which no single atomic covers). At most kMaxSources entries (Traefik's 65536); when a shard is
// full, full buckets are dropped first, then arbitrary ones.
class RateBuckets {
 public:
  static constexpr size_t kShards = 16;
  static constexpr size_t kMaxSources = 65536;

  // `interval_ns`: time between two tokens (period / average); `burst` >= 1.
  RateBuckets(int64_t interval_ns, int64_t burst, int64_t max_delay_ns);

  struct Decision {
    bool allowed = false;
    int64_t delay_ns = 0;  // allowed: wait this long first; refused: the wait it would have had
  };
  // Takes a token for `source` at `now_ns` (a monotonic clock), unless the wait would exceed
  // max_delay, in which case nothing is taken.
  Decision reserve(std::string_view source, int64_t now_ns);

  size_t size() const;  // number of sources with state (tests)

 private:
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, int64_t> tat;  // source -> time its bucket is full again
  };
  void make_room(Shard& shard, int64_t now_ns);

  int64_t interval_ns_;
  int64_t tolerance_ns_;  // (burst - 1) * interval: how far ahead of now a full bucket lets tat go
  int64_t max_delay_ns_;
  SourceHasher hash_;
  Shard shards_[kShards];
};

struct RateLimitOptions {
  int64_t average = 0;
  std::chrono::nanoseconds period = std::chrono::seconds(1);
  int64_t burst = 1;
  SourceCriterion criterion;

  int64_t interval_ns() const;   // period / average
  int64_t max_delay_ns() const;  // Traefik's maxDelay
};

class RateLimit final : public http::Handler {
 public:
  // `buckets`: the instance's state, possibly kept from the previous snapshot; or `redis`, the
  // middleware's Redis limiter (then `buckets` is null).
  RateLimit(std::shared_ptr<const RateLimitOptions> options, std::shared_ptr<RateBuckets> buckets,
            std::shared_ptr<const RedisRateLimiter> redis, HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

 private:
  std::shared_ptr<const RateLimitOptions> options_;
  std::shared_ptr<RateBuckets> buckets_;
  std::shared_ptr<const RedisRateLimiter> redis_;
  HandlerPtr next_;
};

// Decodes `count_key` (rateLimit's "average", distributedRateLimit's "limit"), `period`, `burst`
// and `sourceCriterion` of `dec` into `opts`, with Traefik's checks and defaults (period 1s, burst
// at least 1). Errors go to `dec`.
void decode_rate_options(config::Decoder& dec, std::string_view count_key, RateLimitOptions& opts);

// Go's time.Duration.String ("1.5s", "250ms", "1m0.5s", "800µs"), for X-Retry-In.
std::string go_duration_string(int64_t ns);

// Factory registered as "rateLimit".
Wrap build_rate_limit(config::Decoder& dec, BuildContext& ctx);

}  // namespace turnpike::middleware
