#pragma once
// stripPrefixRegex (Traefik's StripPrefixRegex): removes the leftmost match of the first regex that
// matches at the start of the path, and records it in X-Forwarded-Prefix.
//
//   http.middlewares.<name>.stripPrefixRegex:
//     regex: ["/foo/[a-z0-9]+/[0-9]+/"]   # RE2 (= Go) syntax, tried in order
//
// For each regex in order: its leftmost match must be non-empty and a prefix of the path (as in
// Traefik: the regex need not be anchored, but a match further in the path is skipped). The match
// is cut from the normalised path itself (never re-derived from another spelling of it), the result
// keeps a leading '/', and a result starting with a dot segment is answered 400, as for stripPrefix.
// Regexes are compiled once at decode time. Immutable; shared by every worker.

#include <memory>
#include <vector>

#include "middleware/go_regex.h"
#include "middleware/middleware.h"

namespace turnpike::middleware {

class StripPrefixRegex final : public http::Handler {
 public:
  StripPrefixRegex(std::vector<std::shared_ptr<const GoRegex>> regexes, HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

 private:
  std::vector<std::shared_ptr<const GoRegex>> regexes_;
  HandlerPtr next_;
};

// Factory registered as "stripPrefixRegex".
Wrap build_strip_prefix_regex(config::Decoder& dec, BuildContext& ctx);

}  // namespace turnpike::middleware
