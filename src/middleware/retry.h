#pragma once
// retry (Traefik's Retry): runs the rest of the chain again when an attempt failed in a way that
// is safe to repeat, with exponential backoff between attempts.
//
//   http.middlewares.<name>.retry:
//     attempts: 4                     # tries in all, the first included (required, > 0)
//     initialInterval: 100ms          # first backoff wait (default 100ms; 0 = retry at once)
//     timeout: 0s                     # no new attempt starts later than this after the first
//     maxRequestBodyBytes: 2097152    # request bodies up to this size are kept to be re-sent
//     status: ["502-504"]             # also retry when the upstream answers one of these
//     disableRetryOnNetworkError: false
//     retryNonIdempotentMethod: false # allow re-sending POST/PATCH/... that reached the upstream
//
// When an attempt counts as failed (the response is discarded, never reaches the client):
// - the upstream could not be reached (connection refused, dial timeout: nothing was sent), unless
//   disableRetryOnNetworkError;
// - the request reached the upstream, which then broke the connection, broke the protocol or did
//   not answer in time (502/504 from the gateway), or answered a status listed in `status` -- only
//   for a method that may be repeated (RFC 9110 idempotent: GET, HEAD, OPTIONS, TRACE, PUT,
//   DELETE, or any with retryNonIdempotentMethod) and only when the body it was sent can be sent
//   again (at most maxRequestBodyBytes were read). A POST whose body reached the upstream is never
//   sent twice by default.
// Nothing is retried once a response head went to the client, and a 503 "no available server"
// (nothing to send to) is final, as in Traefik.
//
// Backoff as Traefik's (cenkalti/backoff): the k-th retry waits initialInterval * m^(k-1) with
// m = 2^(1/(attempts-1)), so the waits grow towards (never beyond) twice the first, each
// randomised by +-50%.
// Each attempt starts from the request as it reached this middleware (later middlewares' changes
// are undone) and the body is replayed from the kept copy. Exchange::retry_attempts counts the
// retries (access log).

#include <chrono>
#include <cstdint>
#include <memory>

#include "common/duration.h"
#include "middleware/middleware.h"
#include "middleware/status_ranges.h"

namespace turnpike::middleware {

struct RetryOptions {
  int attempts = 0;
  Duration initial_interval = std::chrono::milliseconds(100);
  Duration timeout = Duration::zero(); // 0 = none
  int64_t max_request_body_bytes = 2 * 1024 * 1024;
  StatusRanges status;
  bool disable_retry_on_network_error = false;
  bool retry_non_idempotent_method = false;

  // The wait before retry number `retry` (1-based), before randomisation.
  Duration backoff(int retry) const;
};

// Immutable; shared by every worker.
class Retry final : public http::Handler {
public:
  Retry(std::shared_ptr<const RetryOptions> options, HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

private:
  std::shared_ptr<const RetryOptions> options_;
  HandlerPtr next_;
};

// Factory registered as "retry".
Wrap build_retry(config::Decoder& dec, BuildContext& ctx);

} // namespace turnpike::middleware
