#include "middleware/replace_path.h"

#include "middleware/decode_support.h"
#include "middleware/path_rewrite.h"

namespace turnpike::middleware {

ReplacePath::ReplacePath(std::string path, HandlerPtr next)
    : path_(std::move(path)), next_(std::move(next)) {}

http::Task<void> ReplacePath::handle(http::Exchange& ex) const {
  ex.request.headers.add(kReplacedPathHeader, ex.request.path);
  ex.request.path = path_;
  co_await next_->handle(ex);
}

Wrap build_replace_path(config::Decoder& dec, BuildContext&) {
  ErrorMark mark(dec);
  std::string path;
  const bool present = dec.get("path", path);
  dec.finish();
  if (!present) {
    dec.fail("path", "is required");
  } else if (auto p = finish_rewritten_path(path); p != PathProblem::kNone) {
    dec.fail("path", "invalid path: " + std::string(describe(p)));
  }
  if (!mark.clean()) return {};
  return [path = std::move(path)](HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const ReplacePath>(path, std::move(next));
  };
}

}  // namespace turnpike::middleware
