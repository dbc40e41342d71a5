#include "middleware/redirect_regex.h"

#include "middleware/decode_support.h"
#include "middleware/local_reply.h"

namespace turnpike::middleware {

RedirectRegex::RedirectRegex(std::shared_ptr<const GoRegex> regex, GoRegex::Template replacement,
                             bool permanent, HandlerPtr next)
    : regex_(std::move(regex)),
      replacement_(std::move(replacement)),
      permanent_(permanent),
      next_(std::move(next)) {}

http::Task<void> RedirectRegex::handle(http::Exchange& ex) const {
  const http::Request& req = ex.request;
  std::string url;
  url.reserve(req.scheme.size() + 3 + req.authority.size() + req.path.size() + 1 +
              req.query.size());
  url.append(req.scheme).append("://").append(req.authority).append(req.path);
  if (req.has_query) url.append("?").append(req.query);

  if (regex_->matches(url)) {
    std::string location = regex_->replace_all(url, replacement_);
    if (location != url) {
      co_await send_redirect(ex, location, permanent_);
      co_return;
    }
  }
  co_await next_->handle(ex);
}

Wrap build_redirect_regex(config::Decoder& dec, BuildContext&) {
  ErrorMark mark(dec);
  auto rr = decode_regex_replacement(dec);
  bool permanent = false;
  dec.get("permanent", permanent);
  dec.finish();
  if (!mark.clean() || !rr) return {};
  return [rr = std::move(*rr), permanent](HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const RedirectRegex>(rr.regex, rr.replacement, permanent,
                                                 std::move(next));
  };
}

}  // namespace turnpike::middleware
