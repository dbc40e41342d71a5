#pragma once
// addPrefix (Traefik's AddPrefix): prepends `prefix` to the request path before it goes upstream.
//
//   http.middlewares.<name>.addPrefix:
//     prefix: "/api"        # required, non-empty
//
// The prefix is normalised at decode time like request paths are (a leading '/' added, bytes not
// allowed in a path percent-encoded); a prefix with a "." or ".." segment is rejected.
// Immutable; one instance is shared by every worker.

#include <string>

#include "middleware/middleware.h"

namespace turnpike::middleware {

class AddPrefix final : public http::Handler {
 public:
  // `prefix` is already normalised (see build_add_prefix).
  AddPrefix(std::string prefix, HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

 private:
  std::string prefix_;
  HandlerPtr next_;
};

// Factory registered as "addPrefix".
Wrap build_add_prefix(config::Decoder& dec, BuildContext& ctx);

}  // namespace turnpike::middleware
