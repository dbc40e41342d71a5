#pragma once
// distributedRateLimit (Traefik Hub's DistributedRateLimit) and the Redis limiter it shares with
// rateLimit's `redis` section (Traefik 3.4): one token bucket per source kept in Redis, so every
// gateway instance that uses the same Redis and the same middleware name draws from one bucket.
//
//   http.middlewares.<name>.distributedRateLimit:
//     limit: 100              # requests per period; 0 (default) = no limit
//     period: 1s              # default 1s
//     burst: 200              # bucket size, default 1
//     denyOnError: false      # Redis unreachable: false (default) lets requests through,
//                             # true answers 503
//     responseHeaders: false  # true: X-RateLimit-Remaining on every response
//     sourceCriterion: {...}  # source_criterion.h; default: the client's address
//     store:
//       redis: {endpoints, username, password, database, timeout (default 5s), tls}
//
// The decision (RedisRateLimiter): one Lua script per request, atomic in Redis (EVALSHA). It keeps
// GCRA state, the same algorithm as the in-memory rateLimit: per source, the time its bucket is
// full again, stored under "turnpike:ratelimit:<middleware name>:<source>" with an expiry at that
// time (a full bucket is the same as no key). Time is Redis's own clock (TIME), so gateways with
// skewed clocks still agree. A refused request takes no token.
//
// Threads and cost: the kv client blocks, so a decision runs on the client's own threads
// (kv::Client::async) and its result is posted back to the request's worker, which meanwhile
// serves other requests. Per request: one Redis round trip on a pooled connection (EVALSHA with
// the key and three numbers; ~100 bytes each way), two cross-thread posts and a few small
// allocations. The client runs at most two decisions at once (its two threads), so one limiter
// decides at most ~2 / round-trip-time requests per second (tens of thousands on loopback).
//
// Each middleware has one client (and one connection pool), created when the configuration is
// built and kept across reloads that leave its options unchanged (state_store.h).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "kv/kv.h"
#include "middleware/middleware.h"
#include "middleware/source_criterion.h"

namespace turnpike::middleware {

// The Redis side of a distributed limit. Immutable after construction; shared by every worker.
class RedisRateLimiter {
 public:
  // `interval_ns`: time between two tokens; `burst` >= 1; `max_delay_ns`: the longest wait a
  // request may be delayed instead of refused (0: never delayed). `key_prefix` ends with ':'.
  RedisRateLimiter(std::unique_ptr<kv::Client> client, std::string key_prefix, int64_t interval_ns,
                   int64_t burst, int64_t max_delay_ns);

  struct Decision {
    bool ok = false;        // false: Redis could not decide (`error` says why)
    bool allowed = false;
    int64_t delay_ns = 0;   // allowed: wait this long first; refused: the wait it would have had
    int64_t remaining = 0;  // tokens left after this request
    std::string error;
  };
  // Takes a token for `source`. Runs on the exchange's worker; the Redis call runs on the
  // client's threads meanwhile.
  http::Task<Decision> reserve(std::string source) const;

  const std::string& describe() const { return describe_; }

 private:
  std::unique_ptr<kv::Client> client_;
  std::string key_prefix_;
  std::string describe_;
  int64_t interval_us_, tolerance_us_, max_delay_us_;
};

// Decodes a Redis connection section ({endpoints, username, password, db|database, timeout or
// readTimeout/writeTimeout/dialTimeout, tls, ...}) of `dec` at `key`. `hub` selects Traefik Hub's
// option names (store.redis of distributedRateLimit) over Traefik's (rateLimit.redis). Errors go
// to `dec`; nullopt when absent or invalid.
std::optional<kv::RedisOptions> decode_redis_options(config::Decoder& dec, std::string_view key,
                                                     bool hub);

// The middleware's limiter: the previous build's while its options are unchanged (its client and
// connections stay), else a new one with a new client. Called from a factory; a client that
// cannot be created is reported at `key` of `dec` (null then).
std::shared_ptr<const RedisRateLimiter> shared_redis_limiter(
    config::Decoder& dec, std::string_view key, BuildContext& ctx, kv::RedisOptions options,
    int64_t interval_ns, int64_t burst, int64_t max_delay_ns);

// "name@provider" from a middleware decoder's path ("http.middlewares.name@provider.type").
std::string middleware_name(const config::Decoder& dec);

// Factory registered as "distributedRateLimit".
Wrap build_distributed_rate_limit(config::Decoder& dec, BuildContext& ctx);

}  // namespace turnpike::middleware
