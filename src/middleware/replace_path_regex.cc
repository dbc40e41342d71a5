#include "middleware/replace_path_regex.h"

#include "middleware/decode_support.h"
#include "middleware/local_reply.h"
#include "middleware/path_rewrite.h"
#include "middleware/replace_path.h"

namespace turnpike::middleware {

ReplacePathRegex::ReplacePathRegex(std::shared_ptr<const GoRegex> regex,
                                   GoRegex::Template replacement, HandlerPtr next)
    : regex_(std::move(regex)), replacement_(std::move(replacement)), next_(std::move(next)) {}

http::Task<void> ReplacePathRegex::handle(http::Exchange& ex) const {
  auto& path = ex.request.path;
  if (regex_->matches(path)) {
    std::string replaced = regex_->replace_all(path, replacement_);
    switch (finish_rewritten_path(replaced)) {
      case PathProblem::kNone:
        break;
      case PathProblem::kInvalidEscape:
        co_await reply(ex, 500, status_text(500));
        co_return;
      case PathProblem::kDotSegment:
        co_await reply(ex, 400, status_text(400));
        co_return;
    }
    ex.request.headers.add(kReplacedPathHeader, path);
    path = std::move(replaced);
  }
  co_await next_->handle(ex);
}

Wrap build_replace_path_regex(config::Decoder& dec, BuildContext&) {
  ErrorMark mark(dec);
  auto rr = decode_regex_replacement(dec);
  dec.finish();
  if (!mark.clean() || !rr) return {};
  return [rr = std::move(*rr)](HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const ReplacePathRegex>(rr.regex, rr.replacement, std::move(next));
  };
}

}  // namespace turnpike::middleware
