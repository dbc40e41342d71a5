#pragma once
// errors (Traefik's Errors / customerrors): replaces responses whose status is in `status` by a
// page fetched from another service.
//
//   http.middlewares.<name>.errors:
//     status: ["500-599", "404"]      # required: statuses (and inclusive ranges) to replace
//     service: error-pages            # required: the HTTP service serving the pages
//     query: "/{status}.html"         # path (and query) asked of that service; default "/"
//     statusRewrites: {"418": 404, "500-599": 503}   # status sent to the client instead
//
// When the response head (from the upstream, or the gateway's own 502/504) has a listed status,
// it and its body are discarded and a GET for `query` goes to `service`, with the original
// request's headers and Host. The client gets the page's headers and body under the original
// status, or its rewrite. In `query`, {status} is the status sent to the client (after a
// rewrite), {originalStatus} the one that was caught, {url} the original request target
// (query-escaped, as Go's url.QueryEscape).

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "middleware/middleware.h"
#include "middleware/status_ranges.h"

namespace turnpike::middleware {

struct ErrorsOptions {
  StatusRanges status;
  std::vector<std::pair<StatusRanges, int>> rewrites; // first match wins
  HandlerPtr service;
  std::string query; // "" = "/"

  int rewrite(int status) const;
  // The error page's request target for a caught status.
  std::string target(int status, int original, std::string_view url) const;
};

// Immutable; shared by every worker.
class ErrorPages final : public http::Handler {
public:
  ErrorPages(std::shared_ptr<const ErrorsOptions> options, HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

private:
  std::shared_ptr<const ErrorsOptions> options_;
  HandlerPtr next_;
};

// Factory registered as "errors".
Wrap build_errors(config::Decoder& dec, BuildContext& ctx);

} // namespace turnpike::middleware
