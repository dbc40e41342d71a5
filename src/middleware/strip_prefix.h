#pragma once
// stripPrefix (Traefik's StripPrefix): removes the first configured prefix the request path starts
// with, and records it in X-Forwarded-Prefix.
//
//   http.middlewares.<name>.stripPrefix:
//     prefixes: ["/api", "/v1"]   # tried in order; the first one the path starts with is removed
//     forceSlash: false           # deprecated, accepted and ignored (the path always keeps a '/')
//
// As in Traefik the match is a plain string prefix: "/stat" strips "/status" to "/us". The result
// keeps a leading '/' ("/api" on "/api" forwards "/"). A result whose first segment becomes a dot
// segment ("/api./x" stripped of "/api" gives "/./x") is answered 400: forwarding it would let the
// upstream resolve a path other than the one routed. Prefixes are compared in the entrypoint's
// normalised path form (percent-encoding normalised at decode time).
// Immutable; one instance is shared by every worker.

#include <string>
#include <vector>

#include "middleware/middleware.h"

namespace turnpike::middleware {

// X-Forwarded-Prefix, set by stripPrefix and stripPrefixRegex.
inline constexpr std::string_view kForwardedPrefixHeader = "X-Forwarded-Prefix";

class StripPrefix final : public http::Handler {
 public:
  // `prefixes` are already normalised (see build_strip_prefix).
  StripPrefix(std::vector<std::string> prefixes, HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

 private:
  std::vector<std::string> prefixes_;
  HandlerPtr next_;
};

// Removes the first `prefix_len` bytes of ex.request.path, records `prefix` in X-Forwarded-Prefix
// and serves `next`; answers 400 itself when the stripped path would start with a dot segment.
// Shared by stripPrefix and stripPrefixRegex.
http::Task<void> strip_and_serve(http::Exchange& ex, std::string_view prefix,
                                 const http::Handler& next);

// Factory registered as "stripPrefix".
Wrap build_strip_prefix(config::Decoder& dec, BuildContext& ctx);

}  // namespace turnpike::middleware
