#pragma once
// replacePath (Traefik's ReplacePath): replaces the whole request path, keeping the original in
// X-Replaced-Path. The query string is kept.
//
//   http.middlewares.<name>.replacePath:
//     path: "/foo"      # required; percent-encoded form, like Traefik (which treats it as RawPath)
//
// The path is normalised at decode time (leading '/', bytes not allowed in a path encoded); an
// invalid %-escape or a "." / ".." segment is a configuration error.
// Immutable; shared by every worker.

#include <string>

#include "middleware/middleware.h"

namespace turnpike::middleware {

// X-Replaced-Path, set by replacePath and replacePathRegex to the path before replacement.
inline constexpr std::string_view kReplacedPathHeader = "X-Replaced-Path";

class ReplacePath final : public http::Handler {
 public:
  ReplacePath(std::string path, HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

 private:
  std::string path_;
  HandlerPtr next_;
};

// Factory registered as "replacePath".
Wrap build_replace_path(config::Decoder& dec, BuildContext& ctx);

}  // namespace turnpike::middleware
