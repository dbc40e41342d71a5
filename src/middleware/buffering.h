#pragma once
// buffering (Traefik's Buffering, vulcand/oxy's buffer): reads the whole request body before the
// service sees it, and the whole response before the client sees it.
//
//   http.middlewares.<name>.buffering:
//     maxRequestBodyBytes: 0        # larger request bodies are answered 413; 0 = no limit
//     memRequestBodyBytes: 1048576  # kept in memory up to this, then in a temporary file
//     maxResponseBodyBytes: 0       # larger responses are replaced by a 500; 0 = no limit
//     memResponseBodyBytes: 1048576
//     retryExpression: "IsNetworkError() && Attempts() < 2"
//
// A request whose Content-Length exceeds maxRequestBodyBytes is refused before any of its body is
// read; a chunked one as soon as it passes the limit. The service then receives the body with a
// Content-Length (no chunked encoding), which upstreams that cannot read chunked bodies need.
// The buffered response goes to the client with a Content-Length.
//
// retryExpression is evaluated after each attempt, once its response is buffered; when it holds,
// the response is discarded and the request (with its buffered body) is sent again. Functions:
// Attempts() (attempts made, the first is 1), ResponseCode() (the attempt's status; 502/504 for a
// gateway failure), IsNetworkError() (the upstream could not be reached or failed before
// answering). See predicate.h for the language. Unlike `retry`, it trusts the expression: a POST
// is repeated if the expression says so, as in Traefik.
//
// Upgrades (101) and 1xx heads pass through unbuffered.

#include <cstdint>
#include <memory>
#include <optional>

#include "middleware/middleware.h"
#include "middleware/predicate.h"

namespace turnpike::middleware {

struct BufferingOptions {
  int64_t max_request_body_bytes = 0;
  int64_t mem_request_body_bytes = 1024 * 1024;
  int64_t max_response_body_bytes = 0;
  int64_t mem_response_body_bytes = 1024 * 1024;
  std::optional<Predicate> retry_expression;
};

// Immutable; shared by every worker.
class Buffering final : public http::Handler {
public:
  Buffering(std::shared_ptr<const BufferingOptions> options, HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

private:
  std::shared_ptr<const BufferingOptions> options_;
  HandlerPtr next_;
};

// Factory registered as "buffering".
Wrap build_buffering(config::Decoder& dec, BuildContext& ctx);

} // namespace turnpike::middleware
