#pragma once
// replacePathRegex (Traefik's ReplacePathRegex): when `regex` matches the request path, the path
// becomes Go's ReplaceAllString(path, replacement) and the original goes to X-Replaced-Path.
//
//   http.middlewares.<name>.replacePathRegex:
//     regex: "^/foo/(.*)"       # required, RE2 (= Go) syntax, unanchored unless written so
//     replacement: "/bar/$1"    # required; $1, ${1}, ${name}, $$ as in Go
//
// The regex runs on the normalised, percent-encoded path (Traefik: the escaped path). The result is
// normalised again (leading '/', invalid bytes encoded); a result with an invalid %-escape is
// answered 500 (as Traefik does), one with a "." or ".." segment 400 (it would reach another
// path than the one routed). Compiled once at decode time; immutable; shared by every worker.

#include <memory>

#include "middleware/go_regex.h"
#include "middleware/middleware.h"

namespace turnpike::middleware {

class ReplacePathRegex final : public http::Handler {
 public:
  ReplacePathRegex(std::shared_ptr<const GoRegex> regex, GoRegex::Template replacement,
                   HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

 private:
  std::shared_ptr<const GoRegex> regex_;
  GoRegex::Template replacement_;
  HandlerPtr next_;
};

// Factory registered as "replacePathRegex".
Wrap build_replace_path_regex(config::Decoder& dec, BuildContext& ctx);

}  // namespace turnpike::middleware
