#pragma once
// redirectRegex (Traefik's RedirectRegex): when `regex` matches the request's full URL, the client
// is redirected to Go's ReplaceAllString(url, replacement).
//
//   http.middlewares.<name>.redirectRegex:
//     regex: "^http://localhost/(.*)"        # required, RE2 (= Go) syntax, unanchored
//     replacement: "http://mydomain/${1}"    # required; $1, ${1}, ${name}, $$ as in Go
//     permanent: false                       # 302/307, or 301/308 when true
//
// The URL matched is scheme://authority/path?query as Traefik builds it: the scheme of the
// connection (http/https, not X-Forwarded-Proto), the authority as sent (port included), and the
// normalised path. A replacement equal to the URL passes the request on. Bytes that cannot appear
// in a URL are percent-encoded in Location. Compiled once at decode time; immutable; shared by
// every worker.

#include <memory>

#include "middleware/go_regex.h"
#include "middleware/middleware.h"

namespace turnpike::middleware {

class RedirectRegex final : public http::Handler {
 public:
  RedirectRegex(std::shared_ptr<const GoRegex> regex, GoRegex::Template replacement,
                bool permanent, HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

 private:
  std::shared_ptr<const GoRegex> regex_;
  GoRegex::Template replacement_;
  bool permanent_;
  HandlerPtr next_;
};

// Factory registered as "redirectRegex".
Wrap build_redirect_regex(config::Decoder& dec, BuildContext& ctx);

}  // namespace turnpike::middleware
