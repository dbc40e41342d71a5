#include "middleware/distributed_rate_limit.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/asio_types.h"
#include "common/log.h"
#include "http/head_editor.h"
#include "middleware/decode_support.h"
#include "middleware/http_client.h"
#include "middleware/local_reply.h"
#include "middleware/rate_limit.h"

namespace turnpike::middleware {
namespace {

constexpr int64_t kSecondNs = 1'000'000'000;

// GCRA in Redis. KEYS[1]: the source's key, holding the time (µs, Redis's clock) at which its
// bucket is full again. ARGV: the interval between tokens, the tolerance ((burst - 1) x interval)
// and the longest delay, in µs. Returns {allowed, delay µs, tokens remaining}. Numbers are written
// with %.0f: Lua's default conversion (%.14g) would round 16-digit timestamps.
constexpr const char* kScript = R"lua(
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local max_delay = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local nxt = tat + interval
local delay = nxt - now - interval - tolerance
if delay < 0 then delay = 0 end
if delay > max_delay then return {0, delay, 0} end
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX',
           string.format('%.0f', math.ceil((nxt - now) / 1000) + 1000))
local remaining = math.floor((now + tolerance + interval - nxt) / interval)
if remaining < 0 then remaining = 0 end
return {1, delay, remaining}
)lua";

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = log::get("ratelimit");
  return l;
}

// The result of a kv call, handed from the client's thread to the waiting worker coroutine. The
// worker owns the timer; the completion is posted to the worker, so both sides touch it there.
struct Pending {
  explicit Pending(const turnpike::Executor& ex)
      : wake(ex, turnpike::SteadyTimer::time_point::max()) {}
  turnpike::SteadyTimer wake;
  std::optional<kv::KvResult<std::vector<int64_t>>> result;
};

// kv's TLS options from the shared client `tls` section (ca, cert, key, insecureSkipVerify).
std::optional<kv::TlsOptions> decode_tls(config::Decoder& dec) {
  auto client = decode_client_tls(dec);
  if (!client) return std::nullopt;
  kv::TlsOptions tls;
  if (!client->root_cas.empty()) tls.ca = client->root_cas.front();
  if (!client->certificates.empty()) {
    tls.cert = client->certificates.front().cert;
    tls.key = client->certificates.front().key;
  }
  tls.insecure_skip_verify = client->insecure_skip_verify;
  return tls;
}

}  // namespace

RedisRateLimiter::RedisRateLimiter(std::unique_ptr<kv::Client> client, std::string key_prefix,
                                   int64_t interval_ns, int64_t burst, int64_t max_delay_ns)
    : client_(std::move(client)),
      key_prefix_(std::move(key_prefix)),
      describe_(client_->describe()),
      interval_us_(std::max<int64_t>(1, interval_ns / 1000)),
      tolerance_us_((burst - 1) > INT64_MAX / 4 / interval_us_ ? INT64_MAX / 4
                                                                : (burst - 1) * interval_us_),
      max_delay_us_(max_delay_ns / 1000) {}

http::Task<RedisRateLimiter::Decision> RedisRateLimiter::reserve(std::string source) const {
  auto executor = co_await boost::asio::this_coro::executor;
  auto pending = std::make_shared<Pending>(executor);
  client_->async<std::vector<int64_t>>(
      [key = key_prefix_ + source,
       args = std::vector<std::string>{std::to_string(interval_us_), std::to_string(tolerance_us_),
                                       std::to_string(max_delay_us_)}](kv::Client& c) {
        return c.eval(kScript, {key}, args);
      },
      executor,
      [pending](kv::KvResult<std::vector<int64_t>> r) {
        pending->result = std::move(r);
        pending->wake.cancel();
      });
  // Woken by the completion (the timer never expires by itself). A cancelled exchange wakes it
  // too, without a result.
  auto [ec] = co_await pending->wake.async_wait(boost::asio::as_tuple(turnpike::use_task));
  (void)ec;
  Decision d;
  if (!pending->result) {
    d.error = "cancelled";
    co_return d;
  }
  auto& r = *pending->result;
  if (!r) {
    d.error = r.error().message;
    co_return d;
  }
  if (r->size() != 3) {
    d.error = describe_ + ": unexpected reply from the rate limit script";
    co_return d;
  }
  d.ok = true;
  d.allowed = (*r)[0] == 1;
  d.delay_ns = (*r)[1] * 1000;
  d.remaining = (*r)[2];
  co_return d;
}

std::string middleware_name(const config::Decoder& dec) {
  std::string_view p = dec.path();
  constexpr std::string_view kPrefix = "http.middlewares.";
  if (p.substr(0, kPrefix.size()) == kPrefix) p.remove_prefix(kPrefix.size());
  if (auto dot = p.rfind('.'); dot != std::string_view::npos) p = p.substr(0, dot);
  return std::string(p);
}

std::optional<kv::RedisOptions> decode_redis_options(config::Decoder& dec, std::string_view key,
                                                     bool hub) {
  const config::Node* node = dec.section(key);
  if (!node) return std::nullopt;
  config::Decoder sub(*node, dec.child_path(key), dec.errors());
  ErrorMark mark(dec);
  kv::RedisOptions o;
  sub.get("endpoints", o.endpoints);
  sub.get("username", o.username);
  sub.get("password", o.password);
  sub.get_non_negative(hub ? "database" : "db", o.db);
  o.tls = decode_tls(sub);
  if (hub) {
    Duration timeout{0};
    if (sub.get_non_negative("timeout", timeout) && timeout.count() > 0) o.timeout = timeout;
    if (sub.section("cluster")) sub.fail("cluster", "Redis Cluster is not supported");
    if (sub.section("sentinel")) sub.fail("sentinel", "Redis Sentinel is not supported");
  } else {
    // Traefik's defaults: 3s to read or write, 5s to connect. The client has one timeout for
    // each command and for connecting: the largest of the three applies.
    Duration read = std::chrono::seconds(3), write = std::chrono::seconds(3),
             dial = std::chrono::seconds(5);
    sub.get_non_negative("readTimeout", read);
    sub.get_non_negative("writeTimeout", write);
    sub.get_non_negative("dialTimeout", dial);
    o.timeout = std::max({read, write, dial});
    if (o.timeout <= Duration::zero()) o.timeout = std::chrono::seconds(5);
    // go-redis pool sizing: accepted; the client keeps its own small pool (two threads).
    int64_t ignored = 0;
    sub.get_non_negative("poolSize", ignored);
    sub.get_non_negative("minIdleConns", ignored);
    sub.get_non_negative("maxActiveConns", ignored);
  }
  sub.finish();
  if (o.endpoints.empty() && mark.clean()) sub.fail("endpoints", "at least one is required");
  if (!mark.clean()) return std::nullopt;
  return o;
}

std::shared_ptr<const RedisRateLimiter> shared_redis_limiter(
    config::Decoder& dec, std::string_view key, BuildContext& ctx, kv::RedisOptions options,
    int64_t interval_ns, int64_t burst, int64_t max_delay_ns) {
  std::string error;
  const std::string prefix = "turnpike:ratelimit:" + middleware_name(dec) + ":";
  auto limiter = ctx.state_slot().get_shared<const RedisRateLimiter>(
      [&]() -> std::shared_ptr<const RedisRateLimiter> {
        auto client = kv::make_redis_client(options);
        if (!client) {
          error = client.error().message;
          return nullptr;
        }
        return std::make_shared<const RedisRateLimiter>(std::move(*client), prefix, interval_ns,
                                                        burst, max_delay_ns);
      });
  if (!limiter) dec.fail(key, error.empty() ? "cannot create the Redis client" : error);
  return limiter;
}

namespace {

struct DistributedOptions {
  RateLimitOptions rate;  // `average` is distributedRateLimit's `limit`
  bool deny_on_error = false;
  bool response_headers = false;
};

class DistributedRateLimit final : public http::Handler {
 public:
  DistributedRateLimit(std::shared_ptr<const DistributedOptions> options,
                       std::shared_ptr<const RedisRateLimiter> limiter, HandlerPtr next)
      : options_(std::move(options)), limiter_(std::move(limiter)), next_(std::move(next)) {}

  http::Task<void> handle(http::Exchange& ex) const override {
    std::string source;
    options_->rate.criterion.source(ex.request, source);
    auto d = co_await limiter_->reserve(std::move(source));
    if (!d.ok) {
      logger()->warn("distributedRateLimit: {}", d.error);
      if (options_->deny_on_error) {
        co_await reply(ex, 503, status_text(503));
        co_return;
      }
      co_await next_->handle(ex);  // fail open (denyOnError: false)
      co_return;
    }
    if (!d.allowed) {
      http::HeaderMap headers;
      headers.set("Retry-After", std::to_string(static_cast<int64_t>(
                                     std::ceil(static_cast<double>(d.delay_ns) / kSecondNs))));
      if (options_->response_headers) headers.set("X-RateLimit-Remaining", "0");
      headers.set("Content-Type", "text/plain; charset=utf-8");
      co_await reply(ex, 429, status_text(429), &headers);
      co_return;
    }
    if (!options_->response_headers) {
      co_await next_->handle(ex);
      co_return;
    }
    const std::string remaining = std::to_string(d.remaining);
    auto edit = [&remaining](http::Response& head) {
      head.headers.set("X-RateLimit-Remaining", remaining);
    };
    http::HeadEditingWriter<decltype(edit)> writer(*ex.writer, edit);
    http::WriterScope scope(ex, writer);
    co_await next_->handle(ex);
  }

 private:
  std::shared_ptr<const DistributedOptions> options_;
  std::shared_ptr<const RedisRateLimiter> limiter_;
  HandlerPtr next_;
};

}  // namespace

Wrap build_distributed_rate_limit(config::Decoder& dec, BuildContext& ctx) {
  ErrorMark mark(dec);
  auto opts = std::make_shared<DistributedOptions>();
  decode_rate_options(dec, "limit", opts->rate);
  dec.get("denyOnError", opts->deny_on_error);
  dec.get("responseHeaders", opts->response_headers);
  const config::Node* store = dec.section("store");
  std::optional<kv::RedisOptions> redis;
  if (!store) {
    dec.fail("store", "is required (store.redis)");
  } else {
    config::Decoder sub(*store, dec.child_path("store"), dec.errors());
    if (!sub.section("redis")) sub.fail("redis", "is required");
    redis = decode_redis_options(sub, "redis", /*hub=*/true);
    sub.finish();
  }
  dec.finish();
  if (!mark.clean() || !redis) return {};
  if (opts->rate.average == 0) return [](HandlerPtr next) { return next; };  // no limit
  // Every router using the middleware shares one limiter: the bucket lives in Redis, keyed by
  // the middleware's name, not by router. Served at once or refused: no delay.
  auto limiter = shared_redis_limiter(dec, "store.redis", ctx, std::move(*redis),
                                      opts->rate.interval_ns(), opts->rate.burst, 0);
  if (!limiter) return {};
  return [opts = std::shared_ptr<const DistributedOptions>(std::move(opts)),
          limiter](HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const DistributedRateLimit>(opts, limiter, std::move(next));
  };
}

}  // namespace turnpike::middleware
