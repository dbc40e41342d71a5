#include "middleware/retry.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/asio_types.h"
#include "http/head_editor.h"
#include "middleware/decode_support.h"

namespace turnpike::middleware {
namespace {

using Kind = http::ProxyError::Kind;

// The request body as each attempt reads it: the first attempt reads the client's body and keeps
// a copy of up to `max` bytes; a rewound reader hands the copy out again, then continues with the
// client's body where the previous attempts stopped. Once more than `max` bytes were read the copy
// is dropped and the body can no longer be rewound. Worker-confined, lives on the handle() frame.
class ReplayBody final : public http::BodyReader {
public:
  ReplayBody(http::BodyReader& source, int64_t max)
      : source_(source), max_(static_cast<uint64_t>(std::max<int64_t>(max, 0))) {}

  http::Task<std::pair<http::ProxyError, std::span<const char>>> read() override {
    constexpr size_t kPiece = 64 * 1024;
    if (pos_ < kept_.size()) {
      const size_t n = std::min(kPiece, kept_.size() - pos_);
      std::span<const char> piece(kept_.data() + pos_, n);
      pos_ += n;
      consumed_ += n;
      co_return std::pair{http::ProxyError::none(), piece};
    }
    auto [err, piece] = co_await source_.read();
    if (err || piece.empty())
      co_return std::pair{err, piece};
    if (!dropped_) {
      if (kept_.size() + piece.size() <= max_) {
        kept_.append(piece.data(), piece.size());
        pos_ = kept_.size();
      } else {
        dropped_ = true;
        std::string().swap(kept_);
        pos_ = 0;
      }
    }
    consumed_ += piece.size();
    co_return std::pair{http::ProxyError::none(), piece};
  }
  int64_t content_length() const override { return source_.content_length(); }
  uint64_t consumed() const override { return consumed_; }
  const http::HeaderMap* trailers() const override { return source_.trailers(); }

  // Everything handed out so far can be handed out again.
  bool rewindable() const { return !dropped_ || consumed_ == 0; }
  void rewind() {
    pos_ = 0;
    consumed_ = 0;
  }

private:
  http::BodyReader& source_;
  uint64_t max_;
  std::string kept_;
  size_t pos_ = 0;        // next byte of kept_ to hand out
  uint64_t consumed_ = 0; // handed out in this attempt
  bool dropped_ = false;
};

// Whether an attempt that answered `head` failed in a way that may be repeated (see retry.h).
bool repeatable_failure(const RetryOptions& o, const http::Exchange& attempt,
                        const http::Response& head, const ReplayBody& body) {
  const bool repeatable =
      (o.retry_non_idempotent_method || http::idempotent_method(attempt.request.method)) &&
      body.rewindable();
  switch (attempt.failure) {
  case Kind::kNone:
    return o.status.contains(head.status) && repeatable;
  case Kind::kUpstreamConnect:
    // Nothing reached the upstream: the same body can go anywhere.
    return !o.disable_retry_on_network_error && body.rewindable();
  case Kind::kUpstreamClosed:
  case Kind::kUpstreamTimeout:
  case Kind::kUpstreamProtocol:
    return !o.disable_retry_on_network_error && repeatable;
  default:
    return false; // the client's side failed, or a limit: repeating changes nothing
  }
}

// +-50% around `d` (cenkalti/backoff's default randomisation factor). Per-thread generator: the
// jitter only has to decorrelate clients, and workers must not share mutable state.
Duration jitter(Duration d) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_real_distribution<double> factor(0.5, 1.5);
  return Duration(static_cast<int64_t>(static_cast<double>(d.count()) * factor(rng)));
}

} // namespace

Duration RetryOptions::backoff(int retry) const {
  if (attempts < 2 || initial_interval <= Duration::zero())
    return Duration::zero();
  const double multiplier = std::pow(2.0, 1.0 / (attempts - 1));
  return Duration(static_cast<int64_t>(static_cast<double>(initial_interval.count()) *
                                       std::pow(multiplier, retry - 1)));
}

Retry::Retry(std::shared_ptr<const RetryOptions> options, HandlerPtr next)
    : options_(std::move(options)), next_(std::move(next)) {}

http::Task<void> Retry::handle(http::Exchange& ex) const {
  const RetryOptions& opts = *options_;
  const http::Request original = ex.request;
  ReplayBody body(ex.body, opts.max_request_body_bytes);
  // The attempt after which another may run (null for the last one): its failed responses are
  // discarded.
  const http::Exchange* retryable = nullptr;
  auto failed = [&](const http::Response& head) {
    return retryable && repeatable_failure(opts, *retryable, head, body);
  };
  http::DivertingWriter<decltype(failed)> writer(*ex.writer, failed);
  const auto started = std::chrono::steady_clock::now();
  const bool close_before = ex.close_connection;
  for (int attempt = 1;; ++attempt) {
    http::Exchange inner = http::derive_exchange(ex, ex.request, body);
    inner.writer = &writer;
    inner.failure = Kind::kNone;
    const bool in_time = opts.timeout <= Duration::zero() ||
                         std::chrono::steady_clock::now() - started < opts.timeout;
    retryable = attempt < opts.attempts && in_time ? &inner : nullptr;
    writer.reset();
    co_await next_->handle(inner);
    retryable = nullptr;
    http::adopt_annotations(ex, inner);
    if (!writer.diverted())
      co_return;
    ex.close_connection = close_before; // a discarded attempt's failure is not the client's
    ++ex.retry_attempts;
    const Duration wait = jitter(opts.backoff(attempt));
    if (wait > Duration::zero()) {
      auto executor = co_await boost::asio::this_coro::executor;
      turnpike::SteadyTimer timer(executor, wait);
      auto [ec] = co_await timer.async_wait(boost::asio::as_tuple(turnpike::use_task));
      (void)ec; // cancelled only when the worker stops: the next attempt fails fast then
    }
    ex.request = original;
    body.rewind();
  }
}

Wrap build_retry(config::Decoder& dec, BuildContext&) {
  ErrorMark mark(dec);
  auto opts = std::make_shared<RetryOptions>();
  const bool has_attempts = dec.get("attempts", opts->attempts);
  dec.get_non_negative("initialInterval", opts->initial_interval);
  dec.get_non_negative("timeout", opts->timeout);
  dec.get_non_negative("maxRequestBodyBytes", opts->max_request_body_bytes);
  opts->status = StatusRanges::decode(dec, "status");
  dec.get("disableRetryOnNetworkError", opts->disable_retry_on_network_error);
  dec.get("retryNonIdempotentMethod", opts->retry_non_idempotent_method);
  dec.finish();
  if (!has_attempts && mark.clean())
    dec.fail("attempts", "is required");
  else if (has_attempts && opts->attempts <= 0)
    dec.fail("attempts", "must be greater than 0");
  if (!mark.clean())
    return {};
  return
      [opts = std::shared_ptr<const RetryOptions>(std::move(opts))](HandlerPtr next) -> HandlerPtr {
        return std::make_shared<const Retry>(opts, std::move(next));
      };
}

} // namespace turnpike::middleware
