#include "middleware/add_prefix.h"

#include "middleware/decode_support.h"
#include "middleware/path_rewrite.h"

namespace turnpike::middleware {

AddPrefix::AddPrefix(std::string prefix, HandlerPtr next)
    : prefix_(std::move(prefix)), next_(std::move(next)) {}

http::Task<void> AddPrefix::handle(http::Exchange& ex) const {
  // The request path always starts with '/', so the prefix's last segment stays whole and the
  // result has no dot segment (the prefix was checked at decode time).
  ex.request.path.insert(0, prefix_);
  co_await next_->handle(ex);
}

Wrap build_add_prefix(config::Decoder& dec, BuildContext&) {
  ErrorMark mark(dec);
  std::string prefix;
  dec.get("prefix", prefix);
  dec.finish();
  if (prefix.empty()) {
    dec.fail("prefix", "is required and cannot be empty");
  } else {
    // Like Traefik, the prefix is used as written, with a leading slash ensured.
    if (auto p = finish_rewritten_path(prefix); p != PathProblem::kNone)
      dec.fail("prefix", "invalid path prefix: " + std::string(describe(p)));
  }
  if (!mark.clean()) return {};
  return [prefix = std::move(prefix)](HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const AddPrefix>(prefix, std::move(next));
  };
}

}  // namespace turnpike::middleware
