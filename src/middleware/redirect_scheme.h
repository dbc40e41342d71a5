#pragma once
// redirectScheme (Traefik's RedirectScheme): redirects the client to the same URL with another
// scheme and/or port, unless the request already has them.
//
//   http.middlewares.<name>.redirectScheme:
//     scheme: https       # required
//     port: "8443"        # optional (a string in Traefik); omitted from the URL when it is the
//                         # scheme's default (http 80, https 443)
//     permanent: false    # 302/307, or 301/308 when true (307/308 for methods other than GET/HEAD)
//
// The request's own URL is scheme://host[:port]/path?query, where the scheme comes from
// X-Forwarded-Proto when present (http/ws -> http, https/wss -> https; the entrypoint keeps it
// only from trusted peers) and otherwise from the connection, and a default port is dropped. When
// the target URL equals it the request is passed on; otherwise the client gets the redirect.
// Immutable; shared by every worker.

#include <string>

#include "middleware/middleware.h"

namespace turnpike::middleware {

class RedirectScheme final : public http::Handler {
 public:
  // `port_suffix` is ":<port>" or empty (already empty for the scheme's default port).
  RedirectScheme(std::string scheme, std::string port_suffix, bool permanent, HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

 private:
  std::string scheme_;
  std::string port_suffix_;
  bool permanent_;
  HandlerPtr next_;
};

// Factory registered as "redirectScheme".
Wrap build_redirect_scheme(config::Decoder& dec, BuildContext& ctx);

}  // namespace turnpike::middleware
