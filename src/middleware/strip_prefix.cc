#include "middleware/strip_prefix.h"

#include "common/log.h"
#include "common/strings.h"
#include "middleware/decode_support.h"
#include "middleware/local_reply.h"
#include "middleware/path_rewrite.h"

namespace turnpike::middleware {

StripPrefix::StripPrefix(std::vector<std::string> prefixes, HandlerPtr next)
    : prefixes_(std::move(prefixes)), next_(std::move(next)) {}

http::Task<void> StripPrefix::handle(http::Exchange& ex) const {
  for (const auto& prefix : prefixes_) {
    if (ex.request.path.starts_with(prefix)) {
      co_await strip_and_serve(ex, prefix, *next_);
      co_return;
    }
  }
  co_await next_->handle(ex);
}

http::Task<void> strip_and_serve(http::Exchange& ex, std::string_view prefix,
                                 const http::Handler& next) {
  auto& path = ex.request.path;
  path.erase(0, prefix.size());
  if (path.empty() || path.front() != '/') path.insert(path.begin(), '/');
  // The rest of the path was normalised by the entrypoint; only its new first segment can be a
  // dot segment ("/api./x" minus "/api").
  if (has_dot_segment(path)) {
    co_await reply(ex, 400, status_text(400));
    co_return;
  }
  ex.request.headers.add(kForwardedPrefixHeader, prefix);
  co_await next.handle(ex);
}

Wrap build_strip_prefix(config::Decoder& dec, BuildContext&) {
  ErrorMark mark(dec);
  std::vector<std::string> prefixes;
  bool force_slash = false;
  dec.get("prefixes", prefixes);
  if (dec.get("forceSlash", force_slash))
    log::get("middleware")
        ->warn("{}: forceSlash is deprecated and has no effect; remove it", dec.path());
  dec.finish();
  for (size_t i = 0; i < prefixes.size(); ++i) {
    auto& prefix = prefixes[i];
    prefix = std::string(trim(prefix));
    if (auto p = normalise_path_chars(prefix); p != PathProblem::kNone)
      dec.fail(item_key("prefixes", i), "invalid path prefix: " + std::string(describe(p)));
  }
  if (!mark.clean()) return {};
  return [prefixes = std::move(prefixes)](HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const StripPrefix>(prefixes, std::move(next));
  };
}

}  // namespace turnpike::middleware
